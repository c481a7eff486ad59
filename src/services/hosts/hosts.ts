import { hostname } from 'node:os';
import type { HostStore, StoredHost } from '../../db/stores/hosts.js';
import {
  isHostState,
  type HostEventDetail,
  type HostLifecycleEvent,
  type HostSnapshot,
  type HostState,
  type NewHostEvent,
} from '../../model/index.js';
import { isAdmin, type AccessPolicy, type Viewer } from '../access/index.js';
import { NoHostAvailableError, NotFoundError } from '../errors.js';
import type { HostService, HostView } from '../instance/index.js';
import type { StateCache } from '../sync/index.js';

export type { HostState };

/**
 * What the guests on a host hold: every domain libvirt has there (running or not), and the creates under way
 * (reserved, not yet defined).
 */
export interface HostUse {
  domains: number;
  activeDomains: number;
  vcpus: number;
  memoryMiB: number;
}

export interface HostCapacity {
  vcpus: number | null;
  memoryMiB: number | null;
}

/** What a new guest (or a resize's growth) needs of a host. */
export interface Placing {
  vcpus: number;
  memoryMiB: number;
}

export interface PlacementLimits {
  cpuAllocationRatio: number | null;
  memoryAllocationRatio: number | null;
}

export interface Host extends HostView {
  id: string;
  name: string;
  state: HostState;
  draining: boolean;
  /** What placement hands out at most: the host's figures times the allocation ratios (null: not limited). */
  capacity: HostCapacity;
}

/** What a tenant is told: that no host takes the guest, never how full the hosts are or what they are called. */
const TENANT_NO_HOST = 'no host takes new guests right now; try again later';
const TENANT_NO_ROOM = 'no host has room for this guest right now; try a smaller one, or again later';

/** A host the control plane places guests on, and the in-process view of it (its libvirt, its cache). */
export interface ServedHost {
  /** Its row in the hosts table (`recordLocal`). */
  id: number;
  view: HostService;
  cache: StateCache;
  /** Told each time its libvirt goes away or answers again. */
  watch(listener: (connected: boolean) => void): void;
}

/** Where host state changes go: the one event log (appended, then published), and what it last said of a host. */
export interface HostEventSink {
  append(event: NewHostEvent): void;
  latest(hostId: string): HostLifecycleEvent | null;
}

/**
 * What the reservations on a host hold, by domain (and the create being placed): creates under way are counted
 * from these until libvirt has the domain.
 */
type Reservations = (hostId: number) => Iterable<{ domainUuid: string; vcpus: number; memoryMiB: number }>;

/** A served host as the registry keeps it: its row (read afresh on use) and what its events last said. */
interface Member {
  served: ServedHost;
  stored: StoredHost;
  announced: { state: HostState; draining: boolean } | null;
}

/**
 * The hosts under this control plane and where a new guest goes. The first is the one the server runs beside,
 * recorded at the first start under its hostname and kept by id (a renamed machine stays the same host);
 * others are served the same way, each with its libvirt, cache and events. Hosts are the operator's business:
 * tenants see none of them.
 */
export class HostRegistry {
  private readonly members = new Map<number, Member>();
  /** Once the server stops, its own disconnects are no news of the host. */
  private stopped = false;

  constructor(
    private readonly store: HostStore,
    private readonly access: AccessPolicy,
    private readonly served: readonly ServedHost[],
    private readonly reservations: Reservations,
    private readonly events: HostEventSink,
    private readonly limits: PlacementLimits = { cpuAllocationRatio: null, memoryAllocationRatio: null },
  ) {
    if (served.length === 0) throw new Error('a HostRegistry serves at least one host');
  }

  /**
   * The id of the host the server runs beside: recorded on the first start under libvirt's hostname (or the
   * machine's), found again by id on later starts (a renamed machine stays the same host). Before anything
   * that names the host is written (its sync's events and known objects).
   */
  static async recordLocal(store: HostStore, libvirtHostname: () => Promise<string>): Promise<number> {
    const first = store.first();
    if (first) return first.id;
    return store.ensure((await libvirtHostname()) || hostname()).id;
  }

  /**
   * Announces each host's state when it is not what the log last said of it (a synthetic STARTUP event: a
   * first start, or a change while the server was down), then follows its libvirt going away and coming back.
   */
  start(): void {
    for (const served of this.served) {
      const stored = this.store.get(served.id);
      if (!stored) throw new Error(`host ${served.id} is not recorded`);
      // The log's last word, or (pruned after its retention, e.g. a week without a change) the host row's copy.
      const last = this.events.latest(String(stored.id));
      const kept = stored.announced;
      const announced = last
        ? { state: last.type, draining: last.host.draining }
        : kept && isHostState(kept.state)
          ? { state: kept.state, draining: kept.draining }
          : null;
      const member: Member = { served, stored, announced };
      this.members.set(stored.id, member);
      this.changed(member, 'STARTUP', true);
      served.watch((connected) => this.changed(member, connected ? 'LIBVIRT_BACK' : 'LIBVIRT_LOST'));
    }
  }

  /** Stops announcing: called first when the server stops, before it lets go of the bus and the database. */
  stop(): void {
    this.stopped = true;
  }

  /** Announces the host's state if it (or its draining flag) differs from what was announced last. */
  private changed(member: Member, detail: HostEventDetail, synthetic = false): void {
    if (this.stopped) return;
    const host = this.snapshot(member);
    const { announced } = member;
    if (announced && announced.state === host.state && announced.draining === host.draining) return;
    member.announced = { state: host.state, draining: host.draining };
    this.events.append({ type: host.state, detail, at: new Date(), host, synthetic });
    try {
      this.store.setAnnounced(member.stored.id, host.state, host.draining);
    } catch {
      // A full disk: the event waits in memory (the stream holds it); the row keeps its older copy, which only
      // counts once the log has pruned this event, and is written again with the next change.
    }
  }

  private snapshot(member: Member): HostSnapshot {
    const { hostname, libvirtVersion, cpus, memoryMiB, id, name, state, draining } = this.describe(member);
    return { id, name, state, draining, hostname, libvirtVersion, cpus, memoryMiB };
  }

  list(viewer: Viewer): Host[] {
    this.access.requireAdmin(viewer);
    return this.all().map((m) => this.describe(m));
  }

  /** The host of that id (admins), else null: a tenant learns nothing of hosts. */
  find(viewer: Viewer, id: string): Host | null {
    if (!isAdmin(viewer)) return null;
    const member = this.memberOf(id);
    return member ? this.describe(member) : null;
  }

  /**
   * The host a domain or network the viewer sees lives on (admins), else null: the one its record names (null
   * when this server does not serve it), or, for a record from before hosts were named (an old event's
   * snapshot), the local host.
   */
  ofObject(viewer: Viewer, object: { hostId?: number }): Host | null {
    if (!isAdmin(viewer)) return null;
    if (object.hostId === undefined) return this.local();
    const member = this.members.get(object.hostId);
    return member ? this.describe(member) : null;
  }

  /**
   * The host the server runs beside, for every viewer (the `host` query, older than hosts): tenants see its
   * record, never its use (`useOf`).
   */
  local(): Host {
    return this.describe(this.all()[0]!);
  }

  /**
   * What the guests on a host hold (admins; null for tenants: it counts every tenant's guests). Apart from the
   * record, so that naming a host (`Domain.host` on every row of a list) does not count them each time.
   */
  useOf(viewer: Viewer, id: string): HostUse | null {
    const member = this.memberOf(id);
    return isAdmin(viewer) && member ? this.use(member) : null;
  }

  /** A live round trip to the local libvirt, for /healthz. */
  healthy(): Promise<boolean> {
    return this.all()[0]!.served.view.healthy();
  }

  /** Admins: stop (or resume) placing new guests on a host; guests already there are untouched. */
  setDraining(viewer: Viewer, id: string, draining: boolean): Host {
    this.access.requireAdmin(viewer);
    const member = this.memberOf(id);
    if (!member) throw new NotFoundError('host', id);
    this.store.setDraining(member.stored.id, draining);
    this.changed(member, draining ? 'DRAIN_SET' : 'DRAIN_CLEARED');
    return this.describe(member);
  }

  /**
   * The hosts a new guest of `needs` may go to, best first: of the hosts not draining, those UP (when none is,
   * the others: a host's state follows libvirt's signals with a lag, and libvirt's own answer then decides —
   * LIBVIRT_UNAVAILABLE, everything reserved undone), those with room before those without, each group by how
   * full the guest leaves it. Read outside any transaction, it is an order to try: `placeOn` confirms.
   */
  candidates(viewer: Viewer, needs: Placing): number[] {
    return this.ranked(viewer, needs, needs).map((r) => r.member.stored.id);
  }

  /**
   * Confirms host `hostId` for a new guest of `needs` (answering its id): called inside the create's
   * transaction right after its quota reservation (so a tenant over quota learns nothing of the hosts' room),
   * which `use` then counts: the draining flag and the reservations read are those every other create sees,
   * so no two creates both take a host's last room.
   */
  placeOn(viewer: Viewer, hostId: number, needs: Placing): number {
    const member = this.memberServing(hostId);
    const host = this.current(member);
    if (host.draining)
      throw new NoHostAvailableError(isAdmin(viewer) ? `no host takes new guests: ${host.name} is draining` : TENANT_NO_HOST);
    this.requireRoom(viewer, member, needs, { vcpus: 0, memoryMiB: 0 });
    return hostId;
  }

  /**
   * The hosts not draining (NO_HOST_AVAILABLE when there is none), UP ones only while any is, with room first,
   * then by fullness and id. `extra`: what is added to their use (the guest itself, when its reservation is
   * not written yet).
   */
  private ranked(viewer: Viewer, needs: Placing, extra: Placing): { member: Member; shortfall: string | null; score: number }[] {
    const open = this.all()
      .map((member) => ({ member, host: this.describe(member) }))
      .filter(({ host }) => !host.draining);
    if (open.length === 0) {
      const names = this.all().map((m) => this.current(m).name);
      const which = names.length === 1 ? `${names[0]} is draining` : `${names.join(', ')} are draining`;
      throw new NoHostAvailableError(isAdmin(viewer) ? `no host takes new guests: ${which}` : TENANT_NO_HOST);
    }
    const up = open.filter(({ host }) => host.state === 'UP');
    return (up.length ? up : open)
      .map(({ member, host }) => {
        // Counted once per host: both the room and the fullness read it.
        const use = this.use(member);
        return { member, shortfall: shortfall(host.capacity, () => use, needs, extra), score: fullness(host.capacity, use, extra) };
      })
      .sort(
        (a, b) =>
          Number(a.shortfall !== null) - Number(b.shortfall !== null) || a.score - b.score || a.member.stored.id - b.member.stored.id,
      );
  }

  /**
   * Whether a domain's host has room for a resize's growth; called inside the resize's transaction after the
   * quota's resize. `reserved`: the domain's reservation already holds the new size (which `use` counts);
   * otherwise (a domain nobody owns) the growth is added here.
   */
  fits(viewer: Viewer, growth: Placing, reserved: boolean, hostId: number): void {
    const grows = { vcpus: Math.max(0, growth.vcpus), memoryMiB: Math.max(0, growth.memoryMiB) };
    this.requireRoom(viewer, this.memberServing(hostId), grows, reserved ? { vcpus: 0, memoryMiB: 0 } : grows);
  }

  /** NO_HOST_AVAILABLE unless the host has room for `grows` (plus `extra`); only admins are told the figures. */
  private requireRoom(viewer: Viewer, member: Member, grows: Placing, extra: Placing): void {
    const short = shortfall(this.capacity(member), () => this.use(member), grows, extra);
    if (short === null) return;
    throw new NoHostAvailableError(
      isAdmin(viewer) ? `no host has room: ${this.current(member).name} cannot take ${short}` : TENANT_NO_ROOM,
    );
  }

  /** The member serving host `hostId`: asking of another is a programming error (the hosts module hands ids out). */
  private memberServing(hostId: number): Member {
    const member = this.members.get(hostId);
    if (!member) throw new Error(`host ${hostId} is not served here`);
    return member;
  }

  private capacity(member: Member): HostCapacity {
    const { cpus, memoryMiB } = member.served.view.info();
    const { cpuAllocationRatio: cpu, memoryAllocationRatio: memory } = this.limits;
    return {
      vcpus: cpu === null ? null : Math.floor(cpus * cpu),
      memoryMiB: memory === null ? null : Math.floor(memoryMiB * memory),
    };
  }

  private all(): Member[] {
    if (this.members.size === 0) throw new Error('HostRegistry used before start()');
    return [...this.members.values()];
  }

  private memberOf(id: string): Member | undefined {
    return /^[0-9]+$/.test(id) ? this.members.get(Number(id)) : undefined;
  }

  /** The host's row as it is now (draining is the operator's, set from any request). */
  private current(member: Member): StoredHost {
    const fresh = this.store.get(member.stored.id);
    if (fresh) member.stored = fresh;
    return member.stored;
  }

  private describe(member: Member): Host {
    const host = this.current(member);
    const view = member.served.view.info();
    const state: HostState = view.stale ? 'DOWN' : host.draining ? 'DRAINING' : 'UP';
    return {
      ...view,
      id: String(host.id),
      name: host.name,
      state,
      draining: host.draining,
      capacity: this.capacity(member),
    };
  }

  /**
   * Every domain in the host's cache, at the larger of its size there and its reservation (a resize under way
   * holds its new size before libvirt shows it), and the reservations of domains not in the cache yet
   * (creates under way, and the one being placed).
   */
  private use(member: Member): HostUse {
    const domains = member.served.cache.domains;
    const reserved = new Map<string, { vcpus: number; memoryMiB: number }>();
    for (const r of this.reservations(member.stored.id)) reserved.set(r.domainUuid, r);
    const use: HostUse = { domains: 0, activeDomains: 0, vcpus: 0, memoryMiB: 0 };
    for (const d of domains.values()) {
      const r = reserved.get(d.uuid);
      reserved.delete(d.uuid);
      use.domains++;
      if (d.active) use.activeDomains++;
      use.vcpus += Math.max(d.vcpus, r?.vcpus ?? 0);
      use.memoryMiB += Math.max(d.memoryMiB, r?.memoryMiB ?? 0);
    }
    for (const r of reserved.values()) {
      use.domains++;
      use.vcpus += r.vcpus;
      use.memoryMiB += r.memoryMiB;
    }
    return use;
  }
}

/**
 * What a host lacks for `grows` (plus `extra`), in words, or null when it fits: in a dimension that grows, its
 * use over its capacity; a change that grows nothing always fits, even on a host already over it. `use` is
 * read only when something is limited and grows. Only admins are told the figures: free room is what every
 * tenant's guests leave, so a tenant learning it would learn of other tenants' guests.
 */
function shortfall(capacity: HostCapacity, use: () => HostUse, grows: Placing, extra: Placing): string | null {
  if (capacity.vcpus === null && capacity.memoryMiB === null) return null;
  if (grows.vcpus <= 0 && grows.memoryMiB <= 0) return null;
  const used = use();
  const short: string[] = [];
  const check = (unit: string, need: number, held: number, cap: number | null) => {
    if (cap === null || need <= 0 || held <= cap) return;
    short.push(`${need} ${unit} (${Math.max(0, cap - (held - need))} of ${cap} free)`);
  };
  check('vCPUs', grows.vcpus, used.vcpus + extra.vcpus, capacity.vcpus);
  check('MiB', grows.memoryMiB, used.memoryMiB + extra.memoryMiB, capacity.memoryMiB);
  return short.length ? short.join(' and ') : null;
}

/**
 * The larger share of a host's limited capacity in use, with `extra` (the create being placed, once: its
 * reservation or the guest itself), else its domains.
 */
function fullness(capacity: HostCapacity, use: HostUse, extra: Placing): number {
  const shares = [
    capacity.vcpus ? (use.vcpus + extra.vcpus) / capacity.vcpus : null,
    capacity.memoryMiB ? (use.memoryMiB + extra.memoryMiB) / capacity.memoryMiB : null,
  ].filter((x): x is number => x !== null);
  return shares.length ? Math.max(...shares) : use.domains;
}
