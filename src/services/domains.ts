import type { LibvirtBus } from '../libvirt/bus.js';
import { domainActions, type DomainAction } from '../libvirt/domain.js';
import type { DomainEventType, DomainState } from '../libvirt/constants.js';
import type { DomainDisk, DomainRecord } from '../libvirt/types.js';
import type { AccessPolicy } from './authorization.js';
import { fromLibvirt, NotFoundError } from './errors.js';
import type { LibvirtSync } from './libvirt-sync.js';
import type { StateCache } from './state-cache.js';
import { isAdmin, type Viewer } from './viewer.js';

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

/** Reading and driving domains on behalf of a viewer. Reads come from the cache; changes go to libvirt. */
export class DomainService {
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
        (!needle || d.name.toLowerCase().includes(needle)),
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

  find(viewer: Viewer, uuid: string): DomainRecord | null {
    const d = this.cache.domains.get(uuid);
    return d && this.access.canSeeDomain(viewer, d) ? d : null;
  }

  /** Runs a lifecycle action and answers with the domain as committed after it. */
  async act(viewer: Viewer, uuid: string, action: DomainAction): Promise<DomainRecord> {
    const domain = this.get(viewer, uuid);
    const run = () =>
      domainActions[action](this.bus, domain.path).catch((err) => {
        throw fromLibvirt(err, { kind: 'domain', id: uuid });
      });
    const after = await this.sync.changeDomain(domain.path, ANNOUNCED_BY[action] ?? null, run);
    if (!after) throw new NotFoundError('domain', uuid);
    return after;
  }
}
