import { type DomainRecord, type NetworkRecord, shownName } from '../../model/index.js';

/**
 * The last known state of every domain and network of one host, keyed by UUID (UUIDs survive redefinition;
 * names and object paths do not). Queries read only this; the sync pipeline is its only writer. Each record
 * put here is marked with the host (`hostId`), so whatever it reaches — an answer, an event, the known state —
 * says which host it is on.
 */
export class StateCache {
  readonly domains = new Map<string, DomainRecord>();
  readonly networks = new Map<string, NetworkRecord>();
  private readonly domainPaths = new Map<string, string>();
  private readonly networkPaths = new Map<string, string>();
  private domainOrder: DomainRecord[] | null = null;
  private networkOrder: NetworkRecord[] | null = null;

  /** `hostId`: the host whose state this is; absent in tests of one host that need no name for it. */
  constructor(private readonly hostId?: number) {}

  setDomain(d: DomainRecord): void {
    if (this.hostId !== undefined) d.hostId = this.hostId;
    const old = this.domains.get(d.uuid);
    if (old && old.path !== d.path) this.domainPaths.delete(old.path);
    this.domains.set(d.uuid, d);
    this.domainPaths.set(d.path, d.uuid);
    this.domainOrder = null;
  }

  deleteDomain(uuid: string): void {
    const old = this.domains.get(uuid);
    if (!old) return;
    this.domains.delete(uuid);
    this.domainPaths.delete(old.path);
    this.domainOrder = null;
  }

  setNetwork(n: NetworkRecord): void {
    if (this.hostId !== undefined) n.hostId = this.hostId;
    const old = this.networks.get(n.uuid);
    if (old && old.path !== n.path) this.networkPaths.delete(old.path);
    this.networks.set(n.uuid, n);
    this.networkPaths.set(n.path, n.uuid);
    this.networkOrder = null;
  }

  deleteNetwork(uuid: string): void {
    const old = this.networks.get(uuid);
    if (!old) return;
    this.networks.delete(uuid);
    this.networkPaths.delete(old.path);
    this.networkOrder = null;
  }

  domainByPath(path: string): DomainRecord | undefined {
    const uuid = this.domainPaths.get(path);
    return uuid === undefined ? undefined : this.domains.get(uuid);
  }

  networkByPath(path: string): NetworkRecord | undefined {
    const uuid = this.networkPaths.get(path);
    return uuid === undefined ? undefined : this.networks.get(uuid);
  }

  /** Domains sorted by (name, uuid): the key connection cursors encode. Rebuilt only after a change. */
  sortedDomains(): readonly DomainRecord[] {
    this.domainOrder ??= [...this.domains.values()].sort((a, b) =>
      byNameThenUuid({ name: shownName(a), uuid: a.uuid }, { name: shownName(b), uuid: b.uuid }),
    );
    return this.domainOrder;
  }

  sortedNetworks(): readonly NetworkRecord[] {
    this.networkOrder ??= [...this.networks.values()].sort(byNameThenUuid);
    return this.networkOrder;
  }
}

export function byNameThenUuid(a: { name: string; uuid: string }, b: { name: string; uuid: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}
