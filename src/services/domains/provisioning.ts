import type { Db } from '../../db/index.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import type { DomainRecord, DomainType } from '../../model/index.js';
import type { OwnershipStore } from '../../db/stores/ownership.js';
import type { AccessPolicy, QuotaService, UserService, Viewer } from '../access/index.js';
import type { IpamService } from '../network/index.js';
import type { DefinedPoolStore } from '../../db/stores/storage.js';
import type { ImageService } from '../storage/index.js';
import type { LibvirtSync, StateCache } from '../sync/index.js';
import { AssignFlow } from './assign.js';
import { ProvisioningContext } from './context.js';
import { CreateFlow } from './create.js';
import { DeleteFlow } from './delete.js';
import type { DomainService } from './domains.js';
import { GuestDisks } from './guest-disks.js';
import type { CreateDomainInput, ProvisioningLog, ProvisioningOptions, ReconcileReport, ResizeDomainInput } from './options.js';
import { ConflictError } from '../errors.js';
import { Reconciler } from './reconcile.js';
import { ResizeFlow } from './resize.js';

/**
 * Creating, resizing, deleting and adopting domains on behalf of a viewer: one flow per file (create.ts,
 * delete.ts, resize.ts, assign.ts, reconcile.ts), sharing what context.ts holds. This is their one face.
 */
export class ProvisioningService {
  private readonly ctx: ProvisioningContext;
  private readonly creates: CreateFlow;
  private readonly deletes: DeleteFlow;
  private readonly resizes: ResizeFlow;
  private readonly assigns: AssignFlow;
  private readonly reconciler: Reconciler;

  constructor(
    libvirt: LibvirtClient,
    db: Db,
    cache: StateCache,
    sync: LibvirtSync,
    access: AccessPolicy,
    domains: DomainService,
    owners: OwnershipStore,
    quotas: QuotaService,
    users: UserService,
    ipam: IpamService,
    images: ImageService,
    private readonly options: ProvisioningOptions,
    private readonly log: ProvisioningLog,
    /** Where the guest-disk pool is recorded when virtplane has to define it. */
    definedPools: DefinedPoolStore | null = null,
  ) {
    const disks = new GuestDisks(libvirt, options, definedPools);
    this.ctx = new ProvisioningContext(libvirt, db, cache, sync, access, domains, owners, quotas, users, ipam, images, options, log, disks);
    this.creates = new CreateFlow(this.ctx);
    this.deletes = new DeleteFlow(this.ctx);
    this.resizes = new ResizeFlow(this.ctx);
    this.assigns = new AssignFlow(this.ctx);
    this.reconciler = new Reconciler(this.ctx, this.deletes);
  }

  get domainType(): DomainType {
    return this.options.domainType;
  }

  /**
   * At start-up: makes the storage pool ready (a failure is logged and retried by the first create), then
   * reconciles SQLite and storage with libvirt.
   */
  async start(): Promise<ReconcileReport> {
    try {
      await this.ctx.disks.ready();
    } catch (err) {
      this.log.warn({ pool: this.options.storagePool, err: String(err) }, 'storage pool not ready; creating domains will retry');
    }
    return this.reconcile();
  }

  create(viewer: Viewer, input: CreateDomainInput): Promise<DomainRecord> {
    return this.creates.create(viewer, input);
  }

  /**
   * Holds a name for `ownerId` as a create under way here would (CONFLICT when the owner has a domain of that
   * name here, or is creating one): names are unique per owner across hosts, so a create on another host holds
   * them on this one until it is done. Answers the release.
   */
  holdName(ownerId: string, name: string): () => void {
    if (this.ctx.ownerHasName(ownerId, name)) throw new ConflictError(`you already have a domain named ${JSON.stringify(name)}`);
    // No libvirt name: libvirt's names are per host, and this host's are not taken by a create elsewhere.
    const pending = { ownerId, name, libvirtName: '' };
    this.ctx.pendingNames.add(pending);
    return () => this.ctx.pendingNames.delete(pending);
  }

  /**
   * Deletes a visible domain: stop, undefine, delete its volumes (unless `keepDisk`), release addresses and
   * MAC, then quota and ownership. Answers with its last state.
   */
  delete(viewer: Viewer, uuid: string, keepDisk = false): Promise<DomainRecord> {
    return this.deletes.delete(viewer, uuid, keepDisk);
  }

  resize(viewer: Viewer, uuid: string, input: ResizeDomainInput): Promise<DomainRecord> {
    return this.resizes.resize(viewer, uuid, input);
  }

  assign(viewer: Viewer, uuid: string, userId: string): Promise<DomainRecord> {
    return this.assigns.assign(viewer, uuid, userId);
  }

  /** Runs after a domain was handed to another user (consoles of the previous owner close). */
  onAssigned(listener: (uuid: string) => void): void {
    this.assigns.onAssigned(listener);
  }

  reconcile(): Promise<ReconcileReport> {
    return this.reconciler.reconcile();
  }

  /**
   * A domain was undefined (by us or behind our back): its reservation, ownership, addresses and MAC go with it.
   * Domains in the middle of a create, resize or delete are left to that flow.
   */
  forget(uuid: string): Promise<void> {
    return this.ctx.forget(uuid);
  }
}
