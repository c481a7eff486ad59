import type { DomainService, ProvisioningService } from '../domains/index.js';
import type { IpamService, NetworkService } from '../network/index.js';
import { HostedKeys } from './keys.js';

/** One served host's services, as the API reaches them (each bound to that host's libvirt and cache). */
export interface ServedMember {
  hostId: number;
  domains: DomainService;
  networks: NetworkService;
  ipam: IpamService;
  provisioning: ProvisioningService;
}

/**
 * The hosts the server serves, by row id, with the keys of their objects: what every routing face of the
 * fleet looks an object's host up in. The local host (the one the server runs beside) is the first.
 */
export class ServedHosts {
  readonly keys: HostedKeys;
  private readonly byId: ReadonlyMap<number, ServedMember>;

  constructor(readonly members: readonly [ServedMember, ...ServedMember[]]) {
    this.keys = new HostedKeys(members[0].hostId);
    this.byId = new Map(members.map((m) => [m.hostId, m]));
  }

  get local(): ServedMember {
    return this.members[0];
  }

  /** The member a record's host is (its cache marks it; unmarked: the local host's), if served. */
  of(o: { hostId?: number }): ServedMember | undefined {
    return o.hostId === undefined ? this.local : this.byId.get(o.hostId);
  }

  /** The member and UUID a key points at; null for a host not served here (reads as NOT_FOUND). */
  locate(key: string): { member: ServedMember; uuid: string } | null {
    const { hostId, uuid } = this.keys.parse(key);
    const member = this.byId.get(hostId);
    return member ? { member, uuid } : null;
  }

  /** Each member's list, merged in connection order (`sortKey`, then the object's key). */
  merged<T extends { uuid: string; hostId?: number }>(lists: (m: ServedMember) => readonly T[], sortKey: (t: T) => string): readonly T[] {
    if (this.members.length === 1) return lists(this.local);
    const keyed = this.members.flatMap((m) => lists(m).map((t) => ({ t, a: sortKey(t), b: this.keys.keyOf(t) })));
    keyed.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : x.b < y.b ? -1 : x.b > y.b ? 1 : 0));
    return keyed.map((k) => k.t);
  }
}
