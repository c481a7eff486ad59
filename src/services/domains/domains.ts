import type { LibvirtBus } from '../../libvirt/bus.js';
import { domainActions, type DomainAction } from '../../libvirt/domain.js';
import { type DomainDisk, type DomainEventType, type DomainRecord, type DomainState, shownName } from '../../model/index.js';
import { type AccessPolicy, isAdmin, type Viewer } from '../access/index.js';
import { fromLibvirt, InvalidStateError, NotFoundError } from '../errors.js';
import type { LibvirtSync, StateCache } from '../sync/index.js';

export interface DomainFilter {
  state?: DomainState | null;
  nameContains?: string | null;
}

export type { DomainAction };

/**
 * The lifecycle event libvirt sends once an action is done, for actions whose event always means it is done:
 * a shutdown only asks the guest, and a reboot or reset sends no lifecycle event.
 */
const ANNOUNCED_BY: Partial<Record<DomainAction, DomainEventType>> = {
  create: 'STARTED',
  destroy: 'STOPPED',
  suspend: 'SUSPENDED',
  resume: 'RESUMED',
};

const BEING_CHANGED = 'the domain is being changed by another request';

/** Reading and driving domains on behalf of a viewer. Reads come from the cache; changes go to libvirt. */
export class DomainService {
  /**
   * Domains a create, resize, delete or assign is changing. Lifecycle actions are refused on them: a start
   * between a delete's stop and undefine would leave a running domain whose quota and addresses were freed.
   */
  private readonly claimed = new Set<string>();
  /** Lifecycle actions in flight, per domain: a resize or delete waits for none, it is refused while one runs. */
  private readonly acting = new Map<string, number>();

  constructor(
    private readonly bus: LibvirtBus,
    private readonly cache: StateCache,
    private readonly sync: LibvirtSync,
    private readonly access: AccessPolicy,
  ) {}

  /** Visible domains in connection order (name, then UUID). */
  list(viewer: Viewer, filter: DomainFilter = {}): readonly DomainRecord[] {
    const needle = filter.nameContains?.toLowerCase();
    const all = this.cache.sortedDomains();
    if (!filter.state && !needle && viewer.role === 'ADMIN') return all;
    return all.filter(
      (d) =>
        this.access.canSeeDomain(viewer, d) &&
        (!filter.state || d.state === filter.state) &&
        (!needle || shownName(d).toLowerCase().includes(needle)),
    );
  }

  /** A domain the viewer may see, or NOT_FOUND — the same answer for missing and foreign domains. */
  get(viewer: Viewer, uuid: string): DomainRecord {
    const d = this.cache.domains.get(uuid);
    if (!d || !this.access.canSeeDomain(viewer, d)) throw new NotFoundError('domain', uuid);
    return d;
  }

  /**
   * What `viewer` may see of a disk's source: a storage volume's name to everyone who sees the domain, a host
   * path (an install ISO's file, say) only to admins, as `images { path }` does.
   */
  diskSource(viewer: Viewer, disk: DomainDisk): string | null {
    return disk.volume !== null || isAdmin(viewer) ? disk.source : null;
  }

  /** Whether this host has a domain of that UUID, whoever may see it. */
  has(uuid: string): boolean {
    return this.cache.domains.has(uuid);
  }

  find(viewer: Viewer, uuid: string): DomainRecord | null {
    const d = this.cache.domains.get(uuid);
    return d && this.access.canSeeDomain(viewer, d) ? d : null;
  }

  /**
   * Claims `uuid` for a create, resize, delete or assign until the returned release is called; INVALID_STATE
   * while another claim or a lifecycle action holds it.
   */
  claim(uuid: string): () => void {
    if (this.claimed.has(uuid) || this.acting.has(uuid)) throw new InvalidStateError(BEING_CHANGED);
    this.claimed.add(uuid);
    return () => this.claimed.delete(uuid);
  }

  /** Whether a create, resize, delete or assign holds `uuid` (its flow handles what libvirt announces). */
  isClaimed(uuid: string): boolean {
    return this.claimed.has(uuid);
  }

  /** Runs a lifecycle action and answers with the domain as committed after it. */
  act(viewer: Viewer, uuid: string, action: DomainAction): Promise<DomainRecord> {
    const domain = this.get(viewer, uuid);
    return this.whileActing(uuid, async () => {
      const run = () =>
        domainActions[action](this.bus, domain.path).catch((err) => {
          throw fromLibvirt(err, { kind: 'domain', id: uuid });
        });
      const after = await this.sync.changeDomain(domain.path, ANNOUNCED_BY[action] ?? null, run);
      if (!after) throw new NotFoundError('domain', uuid);
      return after;
    });
  }

  /**
   * Runs a change to a domain that is not a whole flow (a lifecycle action, a media change, a console
   * password): refused while a flow claims the domain, and no claim is granted while it runs.
   */
  async whileActing<T>(uuid: string, change: () => Promise<T>): Promise<T> {
    if (this.claimed.has(uuid)) throw new InvalidStateError(BEING_CHANGED);
    this.acting.set(uuid, (this.acting.get(uuid) ?? 0) + 1);
    try {
      return await change();
    } finally {
      const n = this.acting.get(uuid)! - 1;
      if (n === 0) this.acting.delete(uuid);
      else this.acting.set(uuid, n);
    }
  }
}
