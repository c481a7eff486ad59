import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/index.js';
import { domainDeletions, keptVolumes, type VolumeRef } from '../../db/schema.js';
import type { LibvirtBus } from '../../libvirt/bus.js';
import { lookupDomainByUUID } from '../../libvirt/connect.js';
import {
  defineDomain,
  domainActions,
  readDomainDefinition,
  restoreDomainDefinition,
  setDomainOwner,
  UNDEFINE_FLAG_SETS,
  undefineDomainFully,
} from '../../libvirt/domain.js';
import { LibvirtError } from '../../libvirt/errors.js';
import {
  createVolume,
  deleteVolume,
  ensurePool,
  listVolumes,
  lookupPool,
  lookupVolume,
  lookupVolumeByPath,
  readPool,
  readVolume,
  resizeVolume,
  StoragePaths,
} from '../../libvirt/storage.js';
import { cleanTrafficFilterRef } from '../../libvirt/nwfilter.js';
import type { CpuMode, DomainRecord, DomainSpec, DomainType, GraphicsType } from '../../libvirt/types.js';
import { type AccessPolicy, isAdmin, type OwnershipStore, type QuotaService, type Resources, type UserService, type Viewer } from '../access/index.js';
import { generateConsolePassword, renewConsolePassword } from './console-password.js';
import type { DefinedPoolStore, ImageService } from '../storage/index.js';
import type { DomainService } from './domains.js';
import { ConflictError, fromLibvirt, InvalidStateError, LibvirtFailedError, NotFoundError, UnsupportedError, ValidationError } from '../errors.js';
import type { IpamService } from '../network/index.js';
import type { LibvirtSync, StateCache } from '../sync/index.js';
import { libvirtNameFor, shownName } from './names.js';

export interface CreateDomainInput {
  name: string;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  /** Name of the libvirt network the NIC joins. */
  network: string;
  /** Name of an install image (`images`), put into the CD-ROM drive. */
  installImage?: string | null;
  start?: boolean | null;
  /** Exposes the host CPU's virtualisation extensions (host-passthrough); needs domain type kvm. */
  nestedVirt?: boolean | null;
  graphics?: GraphicsType | null;
}

export interface ResizeDomainInput {
  vcpus?: number | null;
  memoryMiB?: number | null;
  diskGiB?: number | null;
}

export interface ProvisioningOptions {
  /** Storage pool of guest disks; a `dir` pool at `storageDir` is made (on first use) when it is missing. */
  storagePool: string;
  storageDir: string;
  domainType: DomainType;
  maxVcpus: number | null;
  maxMemoryMiB: number | null;
  maxDiskGiB: number;
  partitions: boolean;
  /** Names of this instance's nwfilters start with it (virtplane-<instance id>-). */
  nwfilterPrefix?: string;
  /** Told just before the storage pool is defined because it was missing (it is then virtplane's to remove). */
  onPoolDefining?: (name: string) => void;
  /** Where new guests' serial sockets go (`<uuid>.sock`, QEMU listening); null: a pty, as on the test driver. */
  serialSocketDir?: string | null;
}

/** What start-up reconciliation fixed. */
export interface ReconcileReport {
  deletionsFinished: number;
  reservationsDropped: number;
  addressesReleased: number;
  addressesPinned: number;
  volumesDeleted: number;
  ownershipRebuilt: number;
}

/** The CPU mode of the guests createDomain makes (unless nestedVirt), which the start-up KVM probe tries. */
export const TEMPLATE_CPU_MODE: CpuMode = 'host-model';

export interface ProvisioningLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MIN_MEMORY_MIB = 32;
const GiB = 1024 ** 3;
/** Guest disks virtplane creates are named `vp-<domain uuid>` (`.qcow2` in file-based pools). */
const VOLUME_NAME = /^vp-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\.qcow2)?$/;

interface StoragePool {
  path: string;
  name: string;
  type: string;
}

interface ValidCreate {
  /** The name in libvirt: the one asked for, unless another domain has it there (domain-names.ts). */
  libvirtName: string;
  resources: Resources;
  networkUuid: string;
  imagePath: string | null;
  graphics: GraphicsType;
  cpuMode: CpuMode;
}

/**
 * The deletion record every delete writes, reads and removes, prepared once. They are prepared on the one
 * connection a better-sqlite3 transaction runs on, so inside a transaction they take part in it.
 */
function prepareDeletionRecord(db: Db) {
  const domainUuid = sql.placeholder('domainUuid');
  return {
    insert: db
      .insert(domainDeletions)
      .values({ domainUuid, domainName: sql.placeholder('domainName'), keepDisk: sql.placeholder('keepDisk'), volumes: sql.placeholder('volumes'), domain: sql.placeholder('domain') })
      .onConflictDoNothing()
      .prepare(),
    byDomain: db.select().from(domainDeletions).where(eq(domainDeletions.domainUuid, domainUuid)).prepare(),
    remove: db.delete(domainDeletions).where(eq(domainDeletions.domainUuid, domainUuid)).prepare(),
  };
}

/**
 * Creating, resizing, deleting and adopting domains on behalf of a viewer.
 *
 * Create: validate (no side effects) → reserve quota, MAC, addresses and ownership → { disk volume, install
 * image still there, DHCP host pinned } → define → start. A failure undoes every step already done, in
 * reverse (stop, undefine, delete the volume, release addresses and MAC, release the quota and ownership), so
 * a failed create leaves nothing in libvirt or SQLite.
 *
 * Delete: record the deletion in SQLite → stop → undefine → delete volumes → release addresses and MAC →
 * release quota and ownership (removing the record in the same transaction). Every step is idempotent, so
 * start-up reconciliation finishes a deletion that was interrupted.
 */
export class ProvisioningService {
  private storage: Promise<StoragePool> | null = null;
  private undefineFlags: readonly number[] = UNDEFINE_FLAG_SETS;
  private readonly deletions: ReturnType<typeof prepareDeletionRecord>;
  /** Domains whose UNDEFINED came while a flow held them: looked at again when it lets go (see `claim`). */
  private readonly undefinedWhileClaimed = new Set<string>();

  constructor(
    private readonly bus: LibvirtBus,
    private readonly driverPath: string,
    private readonly db: Db,
    private readonly cache: StateCache,
    private readonly sync: LibvirtSync,
    private readonly access: AccessPolicy,
    private readonly domains: DomainService,
    private readonly owners: OwnershipStore,
    private readonly quotas: QuotaService,
    private readonly users: UserService,
    private readonly ipam: IpamService,
    private readonly images: ImageService,
    private readonly options: ProvisioningOptions,
    private readonly log: ProvisioningLog,
    /** Shared with the re-reads (LibvirtSync), so a volume created here is known to them without a lookup. */
    private readonly storagePaths: StoragePaths = new StoragePaths(bus, driverPath),
    /** Where the guest-disk pool is recorded when virtplane has to define it. */
    private readonly definedPools: DefinedPoolStore | null = null,
  ) {
    this.deletions = prepareDeletionRecord(db);
    // libvirt-dbus (or the bus) replaced: the pool is made ready and looked up afresh by the next create.
    storagePaths.onReset(() => (this.storage = null));
  }

  /** Names of creates under way (see `create`). */
  private readonly pendingNames = new Set<{ ownerId: string; name: string; libvirtName: string }>();

  get domainType(): DomainType {
    return this.options.domainType;
  }

  /**
   * At start-up: makes the storage pool ready (a failure is logged and retried by the first create), then
   * reconciles SQLite and storage with libvirt.
   */
  async start(): Promise<ReconcileReport> {
    try {
      await this.pool();
    } catch (err) {
      this.forgetPool();
      this.log.warn({ pool: this.options.storagePool, err: String(err) }, 'storage pool not ready; creating domains will retry');
    }
    return this.reconcile();
  }

  async create(viewer: Viewer, input: CreateDomainInput): Promise<DomainRecord> {
    const uuid = randomUUID();
    const valid = this.validateCreate(viewer, input, uuid);
    const unclaim = this.claim(uuid);
    // Until libvirt has it (and the cache shows it), the names are held here, so a concurrent create sees them.
    const pending = { ownerId: viewer.userId, name: input.name, libvirtName: valid.libvirtName };
    this.pendingNames.add(pending);
    try {
      // Quota reservation, MAC lease, addresses and ownership in one transaction (one commit, before libvirt
      // is called): all recorded, or (on any error) none. A crash before the domain is defined leaves rows
      // for a domain libvirt does not have, which start-up reconciliation drops.
      const { mac, owned } = this.quotas.transaction(() => {
        this.quotas.reserve(viewer.userId, uuid, valid.resources);
        const leased = this.ipam.allocateMac(uuid);
        this.ipam.allocate({ networkUuid: valid.networkUuid, domainUuid: uuid, mac: leased });
        return { mac: leased, owned: this.owners.write(uuid, viewer.userId) };
      });
      owned();
      const undo: (() => unknown)[] = [() => this.release(uuid)];
      try {
        return await this.build(viewer, uuid, input, valid, mac, undo);
      } catch (err) {
        for (const step of undo.reverse()) {
          try {
            await step();
          } catch (undoErr) {
            // Left for start-up reconciliation (orphan volume, reservation or addresses without a domain).
            this.log.warn({ domain: uuid, err: String(undoErr) }, 'undoing a failed create left something behind');
          }
        }
        throw fromLibvirt(err);
      }
    } finally {
      this.pendingNames.delete(pending);
      unclaim();
    }
  }

  /** Our pool as made ready; `afresh` forgets the one remembered first (its object path may have gone stale). */
  private async readyPool(afresh = false): Promise<StoragePool> {
    if (afresh) this.forgetPool();
    try {
      return await this.pool();
    } catch (err) {
      this.forgetPool();
      throw err;
    }
  }

  /**
   * The disk volume in our pool. A remembered pool path that libvirt no longer knows (libvirt-dbus restarted,
   * the pool made anew) answers NOT_FOUND: the pool is then made ready afresh and the call retried once.
   */
  private async createDiskVolume(pool: StoragePool, name: string, capacityBytes: number): Promise<string> {
    try {
      return await createVolume(this.bus, pool.path, { name, capacityBytes, format: 'qcow2' }, pool.type);
    } catch (err) {
      if (!(err instanceof LibvirtError && err.kind === 'NOT_FOUND')) throw err;
      const fresh = await this.readyPool(true);
      if (fresh.name !== pool.name || fresh.type !== pool.type) throw err;
      return createVolume(this.bus, fresh.path, { name, capacityBytes, format: 'qcow2' }, fresh.type);
    }
  }

  private async build(viewer: Viewer, uuid: string, input: CreateDomainInput, valid: ValidCreate, mac: string, undo: (() => unknown)[]): Promise<DomainRecord> {
    const pool = await this.readyPool();
    const volumeName = `vp-${uuid}${pool.type === 'logical' ? '' : '.qcow2'}`;
    const clean = this.ipam.cleanTrafficFor(mac);
    const spec: DomainSpec = {
      type: this.options.domainType,
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
          ...(clean ? { filterref: cleanTrafficFilterRef(clean, this.options.nwfilterPrefix) } : {}),
        },
      ],
      graphics: { type: valid.graphics, password: generateConsolePassword(valid.graphics) },
      ownerId: viewer.userId,
      ...(this.options.partitions ? { partition: `/machine/${viewer.name}` } : {}),
      ...(this.options.serialSocketDir ? { serialSocket: join(this.options.serialSocketDir, `${uuid}.sock`) } : {}),
    };
    // Independent steps run together — the disk volume, the install image check, the DHCP host pin — and all
    // settle before anything else happens; whatever of them was done is undone on failure. The domain is defined
    // only once all three succeeded: a create refused on the way announces no domain, and a crash cannot leave
    // a domain without its disk.
    const capacityBytes = valid.resources.diskGiB * GiB;
    const [volume, image, pin] = await Promise.allSettled([
      this.createDiskVolume(pool, volumeName, capacityBytes),
      valid.imagePath === null ? null : this.checkImage(input.installImage!, valid.imagePath),
      this.ipam.pin(mac),
    ]);
    if (volume.status === 'fulfilled') {
      this.storagePaths.rememberVolume(pool.name, volumeName, volume.value, capacityBytes); // the DEFINED event's re-read asks libvirt nothing about it
      undo.push(() => this.deleteRememberedVolume({ pool: pool.name, volume: volumeName }, Promise.resolve(volume.value)));
    } else {
      this.forgetPool(); // the pool may have been stopped or removed: look it up afresh next time
    }
    for (const step of [volume, image, pin]) if (step.status === 'rejected') throw step.reason;
    const path = await defineDomain(this.bus, this.driverPath, spec);
    undo.push(() => this.undefine(path));
    // Pushed before starting: stopping a domain the start never reached is refused as INVALID_STATE, ignored.
    if (input.start) undo.push(() => domainActions.destroy(this.bus, path).catch(ignoreKinds('INVALID_STATE', 'NOT_FOUND')));
    // The DEFINED event's re-read has read the new volume's capacity; starting does not change it.
    const opts = { reuseDiskCapacity: true };
    const created = input.start
      ? await this.sync.changeDomain(path, 'STARTED', () => domainActions.create(this.bus, path), opts)
      : await this.sync.refreshDomain(path, opts);
    if (!created) throw new NotFoundError('domain', uuid);
    return created;
  }

  /** The install image's file must still be a storage volume (an admin may have removed it since it was published). */
  private async checkImage(name: string, path: string): Promise<void> {
    try {
      await lookupVolumeByPath(this.bus, this.driverPath, path);
    } catch (err) {
      if (err instanceof LibvirtError && err.kind === 'NOT_FOUND') {
        throw new ValidationError(`install image ${JSON.stringify(name)} is no longer available on the host`, 'installImage');
      }
      throw err;
    }
  }

  /** Whether libvirt still has a domain of that UUID (asked, not taken from the cache). */
  private async stillThere(uuid: string): Promise<boolean> {
    try {
      await lookupDomainByUUID(this.bus, this.driverPath, uuid);
      return true;
    } catch (err) {
      ignoreKinds('NOT_FOUND')(err);
      return false;
    }
  }

  /** Undefines with everything that belongs to the definition, starting with the flags this driver took last time. */
  private async undefine(path: string): Promise<void> {
    try {
      this.undefineFlags = [await undefineDomainFully(this.bus, path, this.undefineFlags)];
    } catch (err) {
      ignoreKinds('NOT_FOUND')(err);
    }
  }

  /**
   * Deletes a volume found at `found` (a remembered path, or a lookup under way). A remembered path may be
   * stale (the volume or its pool made anew since): NOT_FOUND there is checked with fresh lookups before the
   * volume counts as gone.
   */
  private async deleteRememberedVolume(ref: VolumeRef, found: Promise<string>): Promise<void> {
    try {
      await deleteVolume(this.bus, await found);
    } catch (err) {
      ignoreKinds('NOT_FOUND')(err);
      this.storagePaths.forgetVolume(ref.pool, ref.volume);
      this.storagePaths.forgetPool(ref.pool); // the pool may have been made anew too (a new UUID, a new path)
      await this.storagePaths
        .volume(ref.pool, ref.volume)
        .then((path) => deleteVolume(this.bus, path))
        .catch(ignoreKinds('NOT_FOUND'));
    } finally {
      this.storagePaths.forgetVolume(ref.pool, ref.volume);
    }
  }

  /** Our storage pool is looked up (and made ready) afresh next time, its remembered object path too. */
  private forgetPool(): void {
    this.storage = null;
    this.storagePaths.forgetPool(this.options.storagePool);
  }

  /** The storage pool of guest disks, made ready once (defined as a `dir` pool if missing, started). */
  private pool(): Promise<StoragePool> {
    this.storage ??= (async () => {
      const { storagePool: name, storageDir } = this.options;
      let defining = false;
      let path: string;
      try {
        path = await ensurePool(this.bus, this.driverPath, { type: 'dir', name, targetPath: storageDir }, {
          beforeDefine: () => {
            defining = true;
            this.options.onPoolDefining?.(name);
            this.definedPools?.recordIntent(name, 'dir', !existsSync(storageDir));
          },
        });
      } catch (err) {
        // The record goes with a define that failed; a pool defined but not started stays recorded.
        if (defining) await lookupPool(this.bus, this.driverPath, name).catch(() => this.definedPools?.forget(name));
        throw err;
      }
      const pool = await readPool(this.bus, path);
      if (defining) this.definedPools?.setUuid(name, pool.uuid);
      return { path, name: pool.name, type: pool.type };
    })();
    return this.storage;
  }

  /** Bounds a domain's size must keep: the host's capacity and the configured maxima. */
  private bounds(): { vcpus: number; memoryMiB: number; diskGiB: number } {
    const host = this.sync.host;
    const cap = (configured: number | null, hostValue: number | undefined) =>
      Math.min(configured ?? Number.MAX_SAFE_INTEGER, hostValue || Number.MAX_SAFE_INTEGER);
    return {
      vcpus: cap(this.options.maxVcpus, host?.cpus),
      memoryMiB: cap(this.options.maxMemoryMiB, host?.memoryMiB),
      diskGiB: this.options.maxDiskGiB,
    };
  }

  private checkSize(size: { vcpus: number; memoryMiB: number; diskGiB: number }): void {
    const max = this.bounds();
    const ranges: [keyof typeof size, number, number][] = [
      ['vcpus', 1, max.vcpus],
      ['memoryMiB', MIN_MEMORY_MIB, max.memoryMiB],
      ['diskGiB', 1, max.diskGiB],
    ];
    for (const [field, min, limit] of ranges) {
      const v = size[field];
      if (!Number.isInteger(v) || v < min || v > limit) throw new ValidationError(`${field} must be an integer from ${min} to ${limit}`, field);
    }
  }

  /** Everything that can be checked before anything is touched; throws a typed error, changes nothing. */
  private validateCreate(viewer: Viewer, input: CreateDomainInput, uuid: string): ValidCreate {
    if (!NAME.test(input.name)) {
      throw new ValidationError('name must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit', 'name');
    }
    this.checkSize(input);
    // Names are unique per owner: another tenant's domain of that name is no conflict, and never shows.
    if (this.ownerHasName(viewer.userId, input.name)) throw new ConflictError(`you already have a domain named ${JSON.stringify(input.name)}`);
    const libvirtName = libvirtNameFor(input.name, uuid, (name) => {
      for (const d of this.cache.domains.values()) if (d.name === name) return true;
      for (const p of this.pendingNames) if (p.libvirtName === name) return true;
      return false;
    });
    const network = [...this.cache.networks.values()].find((n) => n.name === input.network);
    if (!network) throw new ValidationError(`no network named ${JSON.stringify(input.network)}`, 'network');
    let imagePath: string | null = null;
    if (input.installImage) {
      try {
        imagePath = this.images.byName(input.installImage).path;
      } catch (err) {
        if (err instanceof NotFoundError) throw new ValidationError(`no install image named ${JSON.stringify(input.installImage)}`, 'installImage');
        throw err;
      }
    }
    if (input.nestedVirt && this.options.domainType === 'qemu') {
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

  /**
   * Deletes a visible domain: stop, undefine, delete its volumes (unless `keepDisk`), release addresses and
   * MAC, then quota and ownership. Answers with its last state.
   */
  async delete(viewer: Viewer, uuid: string, keepDisk = false): Promise<DomainRecord> {
    const domain = this.domains.find(viewer, uuid) ?? this.unfinishedDeletion(viewer, uuid);
    const unclaim = this.claim(uuid);
    try {
      const volumes = domain.disks.flatMap((d) => (d.device === 'disk' && d.pool && d.volume && isOurVolume(d.volume, uuid) ? [{ pool: d.pool, volume: d.volume }] : []));
      // A retry keeps the first request's record (and its keepDisk).
      this.deletions.insert.run({ domainUuid: uuid, domainName: domain.name, keepDisk, volumes, domain });
      await this.finishDeletion(uuid);
      // Through the ordered pipeline: once this answers, no query shows the domain any more. Usually the
      // UNDEFINED event's re-read has committed that already (releasing the address waits for a network re-read
      // in line after it): once a re-read has found the domain gone, every re-read after it started later and
      // finds it gone too, so there is nothing left to wait for. Otherwise it is re-read here.
      if (this.cache.domainByPath(domain.path)) await this.sync.refreshDomain(domain.path);
    } finally {
      unclaim();
    }
    return { ...domain, active: false, state: 'SHUTOFF' };
  }

  /**
   * Claims `uuid` (DomainService.claim). An UNDEFINED met while it was claimed was left to the flow holding
   * it; if the flow did not deal with it (an assign or resize that failed because the domain went), it is
   * handled once the claim is released.
   */
  /** Whether the user owns a domain shown by this name, or is creating one. */
  private ownerHasName(userId: string, name: string): boolean {
    for (const p of this.pendingNames) if (p.ownerId === userId && p.name === name) return true;
    for (const d of this.cache.domains.values()) if (shownName(d) === name && this.access.ownerOf(d) === userId) return true;
    return false;
  }

  private claim(uuid: string): () => void {
    const release = this.domains.claim(uuid);
    return () => {
      release();
      if (!this.undefinedWhileClaimed.delete(uuid)) return;
      // libvirt is asked, not the cache: the flow may have defined the domain again (a resize's redefine)
      // before the cache has re-read it.
      void (async () => {
        if (!(await this.stillThere(uuid))) await this.forget(uuid);
      })().catch((err: unknown) => this.log.warn({ domain: uuid, err: String(err) }, 'releasing an undefined domain failed'));
    };
  }

  /**
   * A deletion that failed part-way (its domain may be undefined already, so no longer listed) for a retry by
   * whoever may still see it; NOT_FOUND for anyone else, as for a missing domain.
   */
  private unfinishedDeletion(viewer: Viewer, uuid: string): DomainRecord {
    const row = this.deletions.byDomain.get({ domainUuid: uuid });
    // Rows from before the domain was recorded with them: admins may still retry, answered with what is known.
    const d = (row?.domain as DomainRecord | null | undefined) ?? (row && isAdmin(viewer) ? stubOf(uuid, row.domainName) : null);
    if (!d || !this.access.canSeeDomain(viewer, d)) throw new NotFoundError('domain', uuid);
    return d;
  }

  /** Runs (or resumes) the recorded deletion of `uuid`; each step may already have been done. */
  private async finishDeletion(uuid: string): Promise<void> {
    const row = this.deletions.byDomain.get({ domainUuid: uuid });
    if (!row) return;
    try {
      // The cached path when the domain is known (libvirt-dbus paths are derived from the UUID), else a lookup.
      let path = this.cache.domains.get(uuid)?.path ?? null;
      if (path === null) {
        try {
          path = await lookupDomainByUUID(this.bus, this.driverPath, uuid);
        } catch (err) {
          ignoreKinds('NOT_FOUND')(err);
        }
      }
      // Looking the volumes up changes nothing, so it runs while the domain is stopped and undefined.
      const volumes = (row.keepDisk ? [] : row.volumes).map((v) => ({ ref: v, found: this.storagePaths.volume(v.pool, v.volume) }));
      for (const { found } of volumes) found.catch(() => undefined); // its error is met where it is awaited, below
      if (path) {
        await domainActions.destroy(this.bus, path).catch(ignoreKinds('INVALID_STATE', 'NOT_FOUND'));
        await this.undefine(path);
        // Started in between (outside virtplane: the API refuses actions on a domain being deleted), it lives on
        // as a transient domain, which nothing may be released under: stop it, and it is gone.
        if (await this.stillThere(uuid)) {
          await domainActions.destroy(this.bus, path).catch(ignoreKinds('INVALID_STATE', 'NOT_FOUND'));
          if (await this.stillThere(uuid)) throw new InvalidStateError('the domain is still defined or running after its deletion; try again');
        }
      }
      // With the domain gone, its DHCP entries go while its volumes are deleted; its addresses become free for
      // others only after both (a failure in between leaves the deletion to resume, nothing given away).
      const unpinned = this.ipam.unpin(uuid);
      unpinned.catch(() => undefined); // its error is met where it is awaited, below
      for (const { ref, found } of volumes) await this.deleteRememberedVolume(ref, found);
      await unpinned;
      // The deletion record goes with addresses, MAC, quota and ownership: all released, or none.
      await this.forgetDomain(uuid, () => {
        if (row.keepDisk) {
          for (const v of row.volumes) {
            this.db.insert(keptVolumes).values({ ...v, domainUuid: uuid, domainName: row.domainName }).onConflictDoNothing().run();
          }
        }
        this.deletions.remove.run({ domainUuid: uuid });
      });
    } catch (err) {
      throw fromLibvirt(err, { kind: 'domain', id: uuid });
    }
  }

  /**
   * Changes vCPUs, memory and disk size of a stopped domain. The growth is reserved against the owner's quota
   * first; the definition is rebuilt from its inactive XML (parse → spec → build) and the volume grown. A
   * failure puts the definition and the reservation back.
   */
  async resize(viewer: Viewer, uuid: string, input: ResizeDomainInput): Promise<DomainRecord> {
    const domain = this.domains.get(viewer, uuid);
    if (domain.active || domain.state !== 'SHUTOFF') throw new InvalidStateError(`resizing needs a stopped domain; this one is ${domain.state}`);
    const unclaim = this.claim(uuid);
    try {
      const { spec, saved } = await readDomainDefinition(this.bus, domain.path).catch((err) => {
        throw fromLibvirt(err, { kind: 'domain', id: uuid });
      });
      const source = spec.disks[0]?.source;
      let volumePath: string | null = null;
      let capacity = 0;
      if (source?.type === 'volume') {
        try {
          volumePath = await lookupVolume(this.bus, await lookupPool(this.bus, this.driverPath, source.pool), source.volume);
          capacity = (await readVolume(this.bus, volumePath)).capacityBytes;
        } catch (err) {
          throw fromLibvirt(err);
        }
      }
      const currentGiB = Math.ceil(capacity / GiB);
      const target = { vcpus: input.vcpus ?? spec.vcpus, memoryMiB: input.memoryMiB ?? spec.memoryMiB, diskGiB: input.diskGiB ?? currentGiB };
      if (input.diskGiB != null && volumePath === null) throw new ValidationError('this domain has no disk volume to resize', 'diskGiB');
      this.checkSize(volumePath === null ? { ...target, diskGiB: 1 } : target);
      if (target.diskGiB < currentGiB) throw new ValidationError(`disks cannot shrink (now ${currentGiB} GiB)`, 'diskGiB');

      const before = this.quotas.resize(uuid, { ...target, interfaces: spec.interfaces.length });
      let redefined = false;
      try {
        if (target.vcpus !== spec.vcpus || target.memoryMiB !== spec.memoryMiB) {
          await defineDomain(this.bus, this.driverPath, { ...spec, vcpus: target.vcpus, memoryMiB: target.memoryMiB });
          redefined = true;
        }
        if (volumePath !== null && target.diskGiB * GiB > capacity) await resizeVolume(this.bus, volumePath, target.diskGiB * GiB);
      } catch (err) {
        let restored = true;
        if (redefined) {
          restored = await restoreDomainDefinition(this.bus, this.driverPath, saved).then(
            () => true,
            (restoreErr: unknown) => {
              this.log.warn({ domain: uuid, err: String(restoreErr) }, 'putting back the definition of a failed resize failed; its reservation stays at the new size');
              return false;
            },
          );
          await this.sync.refreshDomain(domain.path); // queries after this answer show the definition put back
        }
        // A definition left at the new size keeps the reservation made for it: never fewer resources counted than defined.
        if (before && restored) this.quotas.restore(uuid, before);
        throw fromLibvirt(err, { kind: 'domain', id: uuid });
      }
    } finally {
      unclaim();
    }
    const after = await this.sync.refreshDomain(domain.path);
    if (!after) throw new NotFoundError('domain', uuid);
    return after;
  }

  /**
   * Admin: gives an existing domain to a user (metadata first, then SQLite), counting its resources. The
   * console then gets a new password: whoever had the domain before knows the old one. Should that fail, the
   * domain is handed on all the same and the error says so (rotateConsolePassword can be retried).
   */
  private readonly assignedListeners: ((uuid: string) => void)[] = [];

  /** Runs after a domain was handed to another user (consoles of the previous owner close). */
  onAssigned(listener: (uuid: string) => void): void {
    this.assignedListeners.push(listener);
  }

  async assign(viewer: Viewer, uuid: string, userId: string): Promise<DomainRecord> {
    this.access.requireAdmin(viewer);
    const domain = this.domains.get(viewer, uuid);
    this.users.get(viewer, userId);
    const unclaim = this.claim(uuid);
    try {
      const handedOn = this.owners.get(uuid) !== userId;
      if (handedOn && this.ownerHasName(userId, shownName(domain))) {
        throw new ConflictError(`the user already has a domain named ${JSON.stringify(shownName(domain))}`);
      }
      try {
        await setDomainOwner(this.bus, domain.path, userId, domain.active, domain.metadata.name);
      } catch (err) {
        throw fromLibvirt(err, { kind: 'domain', id: uuid });
      }
      const commit = this.quotas.transaction((tx) => {
        this.quotas.adopt(userId, uuid, resourcesOf(domain), tx);
        return this.owners.write(uuid, userId);
      });
      commit();
      if (handedOn) for (const listener of this.assignedListeners) listener(uuid);
      // Renewed once the previous owner can no longer see the domain, so it cannot read the new password.
      // (libvirt's test driver cannot change a device: there the password stays.)
      if (handedOn) {
        await renewConsolePassword(this.bus, domain)
          .catch(ignoreKinds('UNSUPPORTED'))
          .catch((err: unknown) => {
            if (err instanceof LibvirtError && err.kind === 'NOT_FOUND') throw new NotFoundError('domain', uuid); // gone meanwhile
            throw new LibvirtFailedError(`the domain was assigned, but its console password could not be renewed (retry rotateConsolePassword): ${(err as Error).message}`);
          });
      }
    } finally {
      unclaim();
    }
    return (await this.sync.refreshDomain(domain.path)) ?? domain;
  }

  /**
   * Start-up reconciliation of SQLite with libvirt (the cache must be loaded): finishes interrupted deletions;
   * drops reservations and ownership of domains libvirt does not have and releases their addresses and MACs;
   * pins addresses a create did not get to pin; deletes orphan volumes (virtplane's naming, no domain, not
   * kept); rebuilds ownership rows that are missing or differ from each domain's metadata. Logs what it fixed.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      deletionsFinished: 0,
      reservationsDropped: 0,
      addressesReleased: 0,
      addressesPinned: 0,
      volumesDeleted: 0,
      ownershipRebuilt: 0,
    };
    // One failing item (libvirt refusing, a network gone) is logged and left for the next start; it never
    // keeps the server from starting.
    const attempt = async (what: object, fn: () => unknown): Promise<boolean> => {
      try {
        await fn();
        return true;
      } catch (err) {
        this.log.warn({ ...what, err: String(err) }, 'reconciliation step failed; left for the next start');
        return false;
      }
    };
    const deleted = new Set<string>();
    for (const row of this.db.select().from(domainDeletions).all()) {
      if (!(await attempt({ domain: row.domainUuid }, () => this.finishDeletion(row.domainUuid)))) continue;
      this.log.info({ domain: row.domainUuid, name: row.domainName }, 'finished an interrupted deletion');
      deleted.add(row.domainUuid);
      report.deletionsFinished++;
    }

    // Domains just deleted may linger in the cache until their UNDEFINED event is committed. A deletion that
    // could not be finished keeps what it holds (addresses, quota, ownership, volumes) until it is: it counts as
    // existing here.
    const pending = new Set(this.db.select({ u: domainDeletions.domainUuid }).from(domainDeletions).all().map((r) => r.u));
    const existing = new Set([...this.cache.domains.keys(), ...pending].filter((u) => !deleted.has(u)));
    const dropped = this.quotas.dropMissing(existing);
    report.reservationsDropped = dropped.length;
    for (const uuid of this.owners.domains()) if (!existing.has(uuid)) this.unbind(uuid);
    for (const uuid of this.ipam.leaseholders()) {
      if (existing.has(uuid)) continue;
      if (await attempt({ domain: uuid }, () => this.ipam.release(uuid))) report.addressesReleased++;
    }
    for (const a of this.ipam.allocations()) {
      // A network gone from libvirt (or without DHCP) has nothing to pin into.
      if (!this.ipam.needsPin(a) || !existing.has(a.domainUuid) || pending.has(a.domainUuid)) continue;
      if (await attempt({ mac: a.mac }, () => this.ipam.pin(a.mac))) report.addressesPinned++;
    }

    let orphans: { name: string; path: string }[] = [];
    await attempt({ pool: this.options.storagePool }, async () => (orphans = await this.orphanVolumes(existing)));
    for (const v of orphans) {
      if (!(await attempt({ volume: v.name }, () => deleteVolume(this.bus, v.path)))) continue;
      this.log.info({ pool: this.options.storagePool, volume: v.name }, 'deleted an orphan volume (no domain)');
      report.volumesDeleted++;
    }

    for (const d of this.cache.domains.values()) {
      const owner = d.metadata.ownerId;
      // Where the two differ, the metadata is the newer word: `assign` writes it first and SQLite after (a
      // crash or a failed commit in between loses the row's update), and a create writes both with one owner.
      // A missing row for a domain with our metadata (defined outside virtplane, say) is rebuilt the same way.
      if (!owner || !existing.has(d.uuid) || this.owners.get(d.uuid) === owner || !this.users.exists(owner)) continue;
      this.quotas.transaction((tx) => {
        this.quotas.adopt(owner, d.uuid, resourcesOf(d), tx);
        return this.owners.write(d.uuid, owner);
      })();
      report.ownershipRebuilt++;
    }
    if (Object.values(report).some((n) => n > 0)) this.log.info(report, 'reconciled SQLite and storage with libvirt');
    return report;
  }

  /** Volumes named like virtplane's guest disks in the storage pool whose domain does not exist (and were not kept). */
  private async orphanVolumes(existing: ReadonlySet<string>): Promise<{ name: string; path: string }[]> {
    let poolPath: string;
    try {
      poolPath = await lookupPool(this.bus, this.driverPath, this.options.storagePool);
    } catch (err) {
      ignoreKinds('NOT_FOUND')(err);
      return []; // not made yet: no volumes of ours either
    }
    const kept = new Set(
      this.db
        .select()
        .from(keptVolumes)
        .where(eq(keptVolumes.pool, this.options.storagePool))
        .all()
        .map((k) => k.volume),
    );
    const out: { name: string; path: string }[] = [];
    for (const path of await listVolumes(this.bus, poolPath)) {
      const { name } = await readVolume(this.bus, path);
      const uuid = VOLUME_NAME.exec(name)?.[1];
      if (uuid && !existing.has(uuid) && !kept.has(name)) out.push({ name, path });
    }
    return out;
  }

  /**
   * A domain was undefined (by us or behind our back): its reservation, ownership, addresses and MAC go with it.
   * Domains in the middle of a create, resize or delete are left to that flow.
   */
  async forget(uuid: string): Promise<void> {
    if (this.domains.isClaimed(uuid)) {
      this.undefinedWhileClaimed.add(uuid);
      return;
    }
    if (this.deletions.byDomain.get({ domainUuid: uuid })) return;
    if (this.owners.get(uuid) !== undefined || this.quotas.has(uuid) || this.ipam.holdsAny(uuid)) await this.release(uuid);
  }

  /**
   * Unpins the domain's addresses, then forgets them with its MAC, quota reservation and ownership in one
   * transaction (a deletion's last step without its record): all released, or none.
   */
  private async release(uuid: string): Promise<void> {
    await this.ipam.unpin(uuid);
    await this.forgetDomain(uuid);
  }

  /**
   * Forgets the domain's addresses and MAC (after what hangs on them: port forwards) and releases its quota
   * and ownership, with `alongside` (the caller's own writes), in one transaction; the in-memory ownership
   * mirror follows once it has committed.
   */
  private async forgetDomain(uuid: string, alongside: () => void = () => undefined): Promise<void> {
    const committed = await this.ipam.forget(uuid, () => {
      alongside();
      this.quotas.release(uuid);
      return this.owners.remove(uuid);
    });
    committed();
  }

  private unbind(uuid: string): void {
    this.quotas.transaction(() => {
      this.quotas.release(uuid);
      return this.owners.remove(uuid);
    })();
  }
}

/** A stopped domain known only by UUID and name. */
function stubOf(uuid: string, name: string): DomainRecord {
  return { uuid, name, path: '', state: 'SHUTOFF', stateReason: 'UNKNOWN', active: false, persistent: false, autostart: false, vcpus: 0, memoryMiB: 0, interfaces: [], disks: [], graphics: [], metadata: { ownerId: null } };
}

function isOurVolume(name: string, uuid: string): boolean {
  return VOLUME_NAME.exec(name)?.[1] === uuid;
}

function resourcesOf(d: DomainRecord): Resources {
  const diskBytes = d.disks.reduce((sum, disk) => sum + (disk.capacityBytes ?? 0), 0);
  return { vcpus: d.vcpus, memoryMiB: d.memoryMiB, diskGiB: Math.ceil(diskBytes / GiB), interfaces: d.interfaces.length };
}

/** A catch handler that swallows libvirt errors of the given kinds (the step's goal is already reached). */
function ignoreKinds(...kinds: LibvirtError['kind'][]): (err: unknown) => void {
  return (err) => {
    if (err instanceof LibvirtError && kinds.includes(err.kind)) return;
    throw err;
  };
}
