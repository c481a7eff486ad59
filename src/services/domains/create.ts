import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { domainActions } from '../../libvirt/domain.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { cleanTrafficFilterRef } from '../../libvirt/nwfilter.js';
import type { CpuMode, DomainRecord, DomainSpec, GraphicsType } from '../../model/index.js';
import { isAdmin, type Resources, type Viewer } from '../access/index.js';
import { ConflictError, fromLibvirt, NotFoundError, UnsupportedError, ValidationError } from '../errors.js';
import { generateConsolePassword } from './console-password.js';
import type { ProvisioningContext } from './context.js';
import { libvirtNameFor } from './names.js';
import { GiB, TEMPLATE_CPU_MODE, type CreateDomainInput } from './options.js';
import { ignoreKinds } from './steps.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

interface ValidCreate {
  /** The name in libvirt: the one asked for, unless another domain has it there (names.ts). */
  libvirtName: string;
  resources: Resources;
  networkUuid: string;
  imagePath: string | null;
  graphics: GraphicsType;
  cpuMode: CpuMode;
}

/**
 * Create: validate (no side effects) → reserve quota, MAC, addresses and ownership → { disk volume, install
 * image still there, DHCP host pinned } → define → start. A failure undoes every step already done, in
 * reverse (stop, undefine, delete the volume, release addresses and MAC, release the quota and ownership), so
 * a failed create leaves nothing in libvirt or SQLite.
 */
export class CreateFlow {
  constructor(private readonly ctx: ProvisioningContext) {}

  async create(viewer: Viewer, input: CreateDomainInput): Promise<DomainRecord> {
    const uuid = randomUUID();
    const valid = this.validateCreate(viewer, input, uuid);
    const unclaim = this.ctx.claim(uuid);
    // Until libvirt has it (and the cache shows it), the names are held here, so a concurrent create sees them.
    const pending = { ownerId: viewer.userId, name: input.name, libvirtName: valid.libvirtName };
    this.ctx.pendingNames.add(pending);
    try {
      // Placement, quota reservation, MAC lease, addresses and ownership in one transaction (one commit, before libvirt
      // is called): all recorded, or (on any error) none. A crash before the domain is defined leaves rows
      // for a domain libvirt does not have, which start-up reconciliation drops.
      const mac = this.ctx.quotas.transaction((tx) => {
        // The quota first: a request over quota is refused as such, whatever room the host has (the room is
        // what other tenants' guests leave); placement then counts this reservation.
        this.ctx.quotas.reserve(viewer.userId, uuid, valid.resources);
        const host = this.ctx.options.place?.(viewer, valid.resources) ?? this.ctx.options.hostId;
        this.ctx.quotas.placed(uuid, host, tx);
        const leased = this.ctx.ipam.allocateMac(uuid);
        this.ctx.ipam.allocate({ networkUuid: valid.networkUuid, domainUuid: uuid, mac: leased });
        this.ctx.owners.write(tx, uuid, viewer.userId);
        return leased;
      });
      const undo: (() => unknown)[] = [() => this.ctx.release(uuid)];
      try {
        return await this.build(viewer, uuid, input, valid, mac, undo);
      } catch (err) {
        for (const step of undo.reverse()) {
          try {
            await step();
          } catch (undoErr) {
            // Left for start-up reconciliation (orphan volume, reservation or addresses without a domain).
            this.ctx.log.warn({ domain: uuid, err: String(undoErr) }, 'undoing a failed create left something behind');
          }
        }
        throw fromLibvirt(err);
      }
    } finally {
      this.ctx.pendingNames.delete(pending);
      unclaim();
    }
  }

  private async build(
    viewer: Viewer,
    uuid: string,
    input: CreateDomainInput,
    valid: ValidCreate,
    mac: string,
    undo: (() => unknown)[],
  ): Promise<DomainRecord> {
    const pool = await this.ctx.disks.ready();
    const volumeName = `vp-${uuid}${pool.type === 'logical' ? '' : '.qcow2'}`;
    const clean = this.ctx.ipam.cleanTrafficFor(mac);
    const spec: DomainSpec = {
      type: this.ctx.options.domainType,
      name: valid.libvirtName,
      ...(valid.libvirtName !== input.name ? { tenantName: input.name } : {}),
      uuid,
      vcpus: valid.resources.vcpus,
      memoryMiB: valid.resources.memoryMiB,
      cpuMode: valid.cpuMode,
      disks: [{ source: { type: 'volume', pool: pool.name, volume: volumeName }, format: pool.type === 'logical' ? 'raw' : 'qcow2' }],
      cdrom: { source: valid.imagePath === null ? null : { type: 'file', path: valid.imagePath } },
      interfaces: [
        {
          network: input.network,
          mac,
          ...(clean ? { filterref: cleanTrafficFilterRef(clean, this.ctx.options.nwfilterPrefix) } : {}),
        },
      ],
      graphics: { type: valid.graphics, password: generateConsolePassword(valid.graphics) },
      ownerId: viewer.userId,
      ...(this.ctx.options.partitions ? { partition: `/machine/${viewer.name}` } : {}),
      ...(this.ctx.options.serialSocketDir ? { serialSocket: join(this.ctx.options.serialSocketDir, `${uuid}.sock`) } : {}),
    };
    // Independent steps run together — the disk volume, the install image check, the DHCP host pin — and all
    // settle before anything else happens; whatever of them was done is undone on failure. The domain is defined
    // only once all three succeeded: a create refused on the way announces no domain, and a crash cannot leave
    // a domain without its disk.
    const capacityBytes = valid.resources.diskGiB * GiB;
    const [volume, image, pin] = await Promise.allSettled([
      this.ctx.disks.createVolume(pool, volumeName, capacityBytes),
      valid.imagePath === null ? null : this.checkImage(input.installImage!, valid.imagePath),
      this.ctx.ipam.pin(mac),
    ]);
    if (volume.status === 'fulfilled') {
      this.ctx.storagePaths.rememberVolume(pool.name, volumeName, volume.value, capacityBytes); // the DEFINED event's re-read asks libvirt nothing about it
      undo.push(() => this.ctx.disks.deleteRemembered({ pool: pool.name, volume: volumeName }, Promise.resolve(volume.value)));
    } else {
      this.ctx.disks.forgetPool(); // the pool may have been stopped or removed: look it up afresh next time
    }
    for (const step of [volume, image, pin]) if (step.status === 'rejected') throw step.reason;
    const path = await this.ctx.libvirt.domains.define(spec);
    undo.push(() => this.ctx.undefine(path));
    // Pushed before starting: stopping a domain the start never reached is refused as INVALID_STATE, ignored.
    if (input.start) undo.push(() => domainActions.destroy(this.ctx.bus, path).catch(ignoreKinds('INVALID_STATE', 'NOT_FOUND')));
    // The DEFINED event's re-read has read the new volume's capacity; starting does not change it.
    const opts = { reuseDiskCapacity: true };
    const created = input.start
      ? await this.ctx.sync.changeDomain(path, 'STARTED', () => domainActions.create(this.ctx.bus, path), opts)
      : await this.ctx.sync.refreshDomain(path, opts);
    if (!created) throw new NotFoundError('domain', uuid);
    return created;
  }

  /** The install image's file must still be a storage volume (an admin may have removed it since it was published). */
  private async checkImage(name: string, path: string): Promise<void> {
    try {
      await this.ctx.libvirt.storage.lookupVolumeByPath(path);
    } catch (err) {
      if (err instanceof LibvirtError && err.kind === 'NOT_FOUND') {
        throw new ValidationError(`install image ${JSON.stringify(name)} is no longer available on the host`, 'installImage');
      }
      throw err;
    }
  }

  /** Everything that can be checked before anything is touched; throws a typed error, changes nothing. */
  private validateCreate(viewer: Viewer, input: CreateDomainInput, uuid: string): ValidCreate {
    if (!NAME.test(input.name)) {
      throw new ValidationError('name must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit', 'name');
    }
    // A host named is this service's own, or no host it knows: tenants place nothing (hosts are admins' objects).
    if (input.host != null && (!isAdmin(viewer) || input.host !== String(this.ctx.options.hostId)))
      throw new NotFoundError('host', input.host);
    this.ctx.checkSize(input);
    // Names are unique per owner: another tenant's domain of that name is no conflict, and never shows.
    if (this.ctx.ownerHasName(viewer.userId, input.name))
      throw new ConflictError(`you already have a domain named ${JSON.stringify(input.name)}`);
    const libvirtName = libvirtNameFor(input.name, uuid, (name) => {
      for (const d of this.ctx.cache.domains.values()) if (d.name === name) return true;
      for (const p of this.ctx.pendingNames) if (p.libvirtName === name) return true;
      return false;
    });
    const network = [...this.ctx.cache.networks.values()].find((n) => n.name === input.network);
    if (!network) throw new ValidationError(`no network named ${JSON.stringify(input.network)}`, 'network');
    let imagePath: string | null = null;
    if (input.installImage) {
      try {
        imagePath = this.ctx.images.byName(input.installImage).path;
      } catch (err) {
        if (err instanceof NotFoundError)
          throw new ValidationError(`no install image named ${JSON.stringify(input.installImage)}`, 'installImage');
        throw err;
      }
    }
    if (input.nestedVirt && this.ctx.options.domainType === 'qemu') {
      throw new UnsupportedError('nested virtualization needs domain type kvm; this host runs guests under qemu (TCG)');
    }
    return {
      libvirtName,
      resources: { vcpus: input.vcpus, memoryMiB: input.memoryMiB, diskGiB: input.diskGiB, interfaces: 1 },
      networkUuid: network.uuid,
      imagePath,
      graphics: input.graphics ?? 'VNC',
      cpuMode: input.nestedVirt ? 'host-passthrough' : TEMPLATE_CPU_MODE,
    };
  }
}
