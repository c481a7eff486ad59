import { randomUUID } from 'node:crypto';
import type { LibvirtBus } from '../libvirt/bus.js';
import { defineDomainXML } from '../libvirt/connect.js';
import { domainActions, setDomainOwner, undefineDomain } from '../libvirt/domain.js';
import { LibvirtError } from '../libvirt/errors.js';
import type { DomainRecord } from '../libvirt/types.js';
import { buildDomainXml } from '../libvirt/xml/build.js';
import type { AccessPolicy } from './authorization.js';
import type { DomainService } from './domains.js';
import { fromLibvirt, NotFoundError, ValidationError } from './errors.js';
import type { LibvirtSync } from './libvirt-sync.js';
import type { OwnershipStore } from './ownership.js';
import type { QuotaService, Resources } from './quotas.js';
import type { StateCache } from './state-cache.js';
import type { UserService } from './users.js';
import type { Viewer } from './viewer.js';

export interface CreateDomainInput {
  name: string;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  network: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const BOUNDS: ['vcpus' | 'memoryMiB' | 'diskGiB', number, number][] = [
  ['vcpus', 1, 64],
  ['memoryMiB', 64, 1024 * 1024],
  ['diskGiB', 0, 64 * 1024],
];

/**
 * Creating, deleting and adopting domains on behalf of a viewer. Creation is one flow, each step a method
 * so the provisioning spec can extend it:
 *
 *   validate → reserve (one SQLite transaction, quota checked) → define in libvirt → bind ownership
 *   (SQLite row + reservation ACTIVE, one transaction) → answer from the sync pipeline.
 *
 * Any failure after `reserve` undoes what libvirt got and releases the reservation, so a failed create
 * changes nothing.
 */
export class ProvisioningService {
  constructor(
    private readonly bus: LibvirtBus,
    private readonly driverPath: string,
    private readonly virtType: string,
    private readonly cache: StateCache,
    private readonly sync: LibvirtSync,
    private readonly access: AccessPolicy,
    private readonly domains: DomainService,
    private readonly owners: OwnershipStore,
    private readonly quotas: QuotaService,
    private readonly users: UserService,
  ) {}

  async create(viewer: Viewer, input: CreateDomainInput): Promise<DomainRecord> {
    const resources = this.validate(input);
    const uuid = randomUUID();
    this.quotas.reserve(viewer.userId, uuid, resources);
    let path: string | null = null;
    try {
      path = await this.define(viewer, uuid, input);
      this.bind(uuid, viewer.userId);
    } catch (err) {
      if (path) await undefineDomain(this.bus, path).catch(() => undefined);
      this.quotas.release(uuid);
      throw fromLibvirt(err);
    }
    const created = await this.sync.refreshDomain(path);
    if (!created) throw new NotFoundError('domain', uuid);
    return created;
  }

  /** Stops (if running) and undefines a visible domain, then releases its reservation and ownership. */
  async delete(viewer: Viewer, uuid: string): Promise<DomainRecord> {
    const domain = this.domains.get(viewer, uuid);
    try {
      if (domain.active) await domainActions.destroy(this.bus, domain.path).catch(ignoreInvalidState);
      await undefineDomain(this.bus, domain.path);
    } catch (err) {
      throw fromLibvirt(err, { kind: 'domain', id: uuid });
    }
    this.unbind(uuid);
    await this.sync.refreshDomain(domain.path);
    return { ...domain, active: false, state: 'SHUTOFF' };
  }

  /** Admin: gives an existing domain to a user (metadata first, then SQLite), counting its resources. */
  async assign(viewer: Viewer, uuid: string, userId: string): Promise<DomainRecord> {
    this.access.requireAdmin(viewer);
    const domain = this.domains.get(viewer, uuid);
    this.users.get(viewer, userId);
    try {
      await setDomainOwner(this.bus, domain.path, userId, domain.active);
    } catch (err) {
      throw fromLibvirt(err, { kind: 'domain', id: uuid });
    }
    const commit = this.quotas.transaction((tx) => {
      this.quotas.adopt(userId, uuid, resourcesOf(domain), tx);
      return this.owners.write(tx, uuid, userId);
    });
    commit();
    return (await this.sync.refreshDomain(domain.path)) ?? domain;
  }

  /**
   * Start-up reconciliation: drops reservations and ownership rows of domains libvirt no longer has, and
   * rebuilds missing ownership rows from the owner in each domain's metadata (when that user exists).
   */
  reconcile(): { dropped: number; rebuilt: number } {
    const existing = new Set(this.cache.domains.keys());
    const dropped = this.quotas.dropMissing(existing);
    for (const uuid of this.owners.domains()) if (!existing.has(uuid)) this.unbind(uuid);
    let rebuilt = 0;
    for (const d of this.cache.domains.values()) {
      const owner = d.metadata.ownerId;
      if (!owner || this.owners.get(d.uuid) || !this.users.exists(owner)) continue;
      this.quotas.transaction((tx) => {
        this.quotas.adopt(owner, d.uuid, resourcesOf(d), tx);
        return this.owners.write(tx, d.uuid, owner);
      })();
      rebuilt++;
    }
    return { dropped: dropped.length, rebuilt };
  }

  /** A domain was undefined (by us or behind our back): its reservation and ownership go with it. */
  forget(uuid: string): void {
    if (this.owners.get(uuid) !== undefined || this.quotas.has(uuid)) this.unbind(uuid);
  }

  protected validate(input: CreateDomainInput): Resources {
    if (!NAME.test(input.name)) {
      throw new ValidationError('name must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit', 'name');
    }
    for (const [field, min, max] of BOUNDS) {
      const v = input[field];
      if (!Number.isInteger(v) || v < min || v > max) throw new ValidationError(`${field} must be an integer from ${min} to ${max}`, field);
    }
    if (![...this.cache.networks.values()].some((n) => n.name === input.network)) {
      throw new ValidationError(`no network named ${JSON.stringify(input.network)}`, 'network');
    }
    return { vcpus: input.vcpus, memoryMiB: input.memoryMiB, diskGiB: input.diskGiB, interfaces: 1 };
  }

  protected define(viewer: Viewer, uuid: string, input: CreateDomainInput): Promise<string> {
    const xml = buildDomainXml({ ...input, uuid, virtType: this.virtType, ownerId: viewer.userId });
    return defineDomainXML(this.bus, this.driverPath, xml);
  }

  /** Ownership row and ACTIVE reservation in one transaction. */
  protected bind(uuid: string, userId: string): void {
    this.quotas.transaction((tx) => {
      this.quotas.activate(uuid, tx);
      return this.owners.write(tx, uuid, userId);
    })();
  }

  protected unbind(uuid: string): void {
    this.quotas.transaction((tx) => {
      this.quotas.release(uuid, tx);
      return this.owners.remove(tx, uuid);
    })();
  }
}

function resourcesOf(d: DomainRecord): Resources {
  const diskBytes = d.disks.reduce((sum, disk) => sum + (disk.capacityBytes ?? 0), 0);
  return { vcpus: d.vcpus, memoryMiB: d.memoryMiB, diskGiB: Math.ceil(diskBytes / 1024 ** 3), interfaces: d.interfaces.length };
}

function ignoreInvalidState(err: unknown): void {
  if (err instanceof LibvirtError && err.kind === 'INVALID_STATE') return;
  throw err;
}
