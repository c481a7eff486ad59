import { undefineDomainFully, UNDEFINE_FLAG_SETS } from '../../libvirt/domain.js';
import type { Db } from '../../db/index.js';
import { ProvisioningStore } from '../../db/stores/provisioning.js';
import type { LibvirtBus } from '../../libvirt/bus.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import type { StoragePaths } from '../../libvirt/storage-paths.js';
import type { OwnershipStore } from '../../db/stores/ownership.js';
import type { AccessPolicy, QuotaService, UserService } from '../access/index.js';
import { ValidationError } from '../errors.js';
import type { IpamService } from '../network/index.js';
import type { ImageService } from '../storage/index.js';
import type { LibvirtSync, StateCache } from '../sync/index.js';
import type { DomainService } from './domains.js';
import type { GuestDisks } from './guest-disks.js';
import { shownName } from '../../model/index.js';
import type { ProvisioningLog, ProvisioningOptions } from './options.js';
import { ignoreKinds } from './steps.js';

const MIN_MEMORY_MIB = 32;

/**
 * What the domain flows (create, delete, resize, assign, reconcile) share: the services they coordinate, the
 * claims and names of domains in flight, and the release of what a domain holds once it is gone.
 */
export class ProvisioningContext {
  /** Deletion records and kept volumes. */
  readonly deletions: ProvisioningStore;
  /** Names of creates under way (see `create`). */
  readonly pendingNames = new Set<{ ownerId: string; name: string; libvirtName: string }>();
  private undefineFlags: readonly number[] = UNDEFINE_FLAG_SETS;
  /** Domains whose UNDEFINED came while a flow held them: looked at again when it lets go (see `claim`). */
  private readonly undefinedWhileClaimed = new Set<string>();
  readonly bus: LibvirtBus;
  /** The client's, shared with the re-reads (LibvirtSync): a volume created here is known to them without a lookup. */
  readonly storagePaths: StoragePaths;

  constructor(
    readonly libvirt: LibvirtClient,
    db: Db,
    readonly cache: StateCache,
    readonly sync: LibvirtSync,
    readonly access: AccessPolicy,
    readonly domains: DomainService,
    readonly owners: OwnershipStore,
    readonly quotas: QuotaService,
    readonly users: UserService,
    readonly ipam: IpamService,
    readonly images: ImageService,
    readonly options: ProvisioningOptions,
    readonly log: ProvisioningLog,
    readonly disks: GuestDisks,
  ) {
    this.bus = libvirt.bus;
    this.storagePaths = libvirt.storagePaths;
    this.deletions = new ProvisioningStore(db);
  }

  /**
   * Claims `uuid` (DomainService.claim). An UNDEFINED met while it was claimed was left to the flow holding
   * it; if the flow did not deal with it (an assign or resize that failed because the domain went), it is
   * handled once the claim is released.
   */
  claim(uuid: string): () => void {
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
   * The flow holding `uuid` saw the domain gone and released all it held itself (a finished deletion): an
   * UNDEFINED met meanwhile needs no second look (a lookup and `forget`, which would find nothing left) when
   * the claim is released.
   */
  releasedByFlow(uuid: string): void {
    this.undefinedWhileClaimed.delete(uuid);
  }

  /** Whether the user owns a domain shown by this name, or is creating one. */
  ownerHasName(userId: string, name: string): boolean {
    for (const p of this.pendingNames) if (p.ownerId === userId && p.name === name) return true;
    for (const d of this.cache.domains.values()) if (shownName(d) === name && this.access.ownerOf(d) === userId) return true;
    return false;
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

  checkSize(size: { vcpus: number; memoryMiB: number; diskGiB: number }): void {
    const max = this.bounds();
    const ranges: [keyof typeof size, number, number][] = [
      ['vcpus', 1, max.vcpus],
      ['memoryMiB', MIN_MEMORY_MIB, max.memoryMiB],
      ['diskGiB', 1, max.diskGiB],
    ];
    for (const [field, min, limit] of ranges) {
      const v = size[field];
      if (!Number.isInteger(v) || v < min || v > limit)
        throw new ValidationError(`${field} must be an integer from ${min} to ${limit}`, field);
    }
  }

  /** Whether libvirt still has a domain of that UUID (asked, not taken from the cache). */
  async stillThere(uuid: string): Promise<boolean> {
    try {
      await this.libvirt.domains.lookupByUUID(uuid);
      return true;
    } catch (err) {
      ignoreKinds('NOT_FOUND')(err);
      return false;
    }
  }

  /** Undefines with everything that belongs to the definition, starting with the flags this driver took last time. */
  async undefine(path: string): Promise<void> {
    try {
      this.undefineFlags = [await undefineDomainFully(this.bus, path, this.undefineFlags)];
    } catch (err) {
      ignoreKinds('NOT_FOUND')(err);
    }
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
    if (this.deletions.deletionOf(uuid)) return;
    if (this.owners.get(uuid) !== undefined || this.quotas.has(uuid) || this.ipam.holdsAny(uuid)) await this.release(uuid);
  }

  /**
   * Unpins the domain's addresses, then forgets them with its MAC, quota reservation and ownership in one
   * transaction (a deletion's last step without its record): all released, or none.
   */
  async release(uuid: string): Promise<void> {
    await this.ipam.unpin(uuid);
    await this.forgetDomain(uuid);
  }

  /**
   * Forgets the domain's addresses and MAC (after what hangs on them: port forwards) and releases its quota
   * and ownership, with `alongside` (the caller's own writes), in one transaction; the in-memory ownership
   * mirror follows once it has committed.
   */
  async forgetDomain(uuid: string, alongside: () => void = () => undefined): Promise<void> {
    await this.ipam.forget(uuid, (tx) => {
      alongside();
      this.quotas.release(uuid);
      this.owners.remove(tx, uuid);
    });
  }

  unbind(uuid: string): void {
    this.quotas.transaction((tx) => {
      this.quotas.release(uuid);
      this.owners.remove(tx, uuid);
    });
  }
}
