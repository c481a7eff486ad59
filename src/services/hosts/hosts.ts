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
interface ServedHost {
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

/**
 * The hosts under this control plane and where a new guest goes. Today one host: the one the server runs
 * beside, recorded at the first start under its hostname and kept by id (a renamed machine stays the same
 * host). Hosts are the operator's business: tenants see none of them.
 */
export class HostRegistry {
  private stored: StoredHost | null = null;
  /** What the last event said (or the start found): a change of either is announced. */
  private announced: { state: HostState; draining: boolean } | null = null;
  /** Once the server stops, its own disconnects are no news of the host. */
  private stopped = false;

  constructor(
    private readonly store: HostStore,
    private readonly access: AccessPolicy,
    private readonly served: ServedHost,
    private readonly reservations: Reservations,
    private readonly events: HostEventSink,
    private readonly limits: PlacementLimits = { cpuAllocationRatio: null, memoryAllocationRatio: null },
  ) {}

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
   * Announces the host's state when it is not what the log last said of it (a synthetic STARTUP event: a first
   * start, or a change while the server was down), then follows its libvirt going away and coming back.
   */
  start(): void {
    this.stored = this.store.get(this.served.id);
    if (!this.stored) throw new Error(`host ${this.served.id} is not recorded`);
    const now = this.snapshot();
    // The log's last word, or (pruned after its retention, e.g. a week without a change) the host row's copy.
    const last = this.events.latest(now.id);
    const kept = this.stored.announced;
    this.announced = last
      ? { state: last.type, draining: last.host.draining }
      : kept && isHostState(kept.state)
        ? { state: kept.state, draining: kept.draining }
        : null;
    this.changed('STARTUP', true);
    this.served.watch((connected) => this.changed(connected ? 'LIBVIRT_BACK' : 'LIBVIRT_LOST'));
  }

  /** Stops announcing: called first when the server stops, before it lets go of the bus and the database. */
  stop(): void {
    this.stopped = true;
  }

  /** Announces the host's state if it (or its draining flag) differs from what was announced last. */
  private changed(detail: HostEventDetail, synthetic = false): void {
    if (this.stopped) return;
    const host = this.snapshot();
    if (this.announced && this.announced.state === host.state && this.announced.draining === host.draining) return;
    this.announced = { state: host.state, draining: host.draining };
    this.events.append({ type: host.state, detail, at: new Date(), host, synthetic });
    try {
      this.store.setAnnounced(this.current().id, host.state, host.draining);
    } catch {
      // A full disk: the event waits in memory (the stream holds it); the row keeps its older copy, which only
      // counts once the log has pruned this event, and is written again with the next change.
    }
  }

  private snapshot(): HostSnapshot {
    const { hostname, libvirtVersion, cpus, memoryMiB, id, name, state, draining } = this.describe(this.current());
    return { id, name, state, draining, hostname, libvirtVersion, cpus, memoryMiB };
  }

  list(viewer: Viewer): Host[] {
    this.access.requireAdmin(viewer);
    return [this.describe(this.current())];
  }

  /** The host of that id (admins), else null: a tenant learns nothing of hosts. */
  find(viewer: Viewer, id: string): Host | null {
    if (!isAdmin(viewer)) return null;
    const host = this.current();
    return String(host.id) === id ? this.describe(host) : null;
  }

  /** The host a domain or network the viewer sees lives on (admins), else null. Today: the one host. */
  ofLocalObject(viewer: Viewer): Host | null {
    return isAdmin(viewer) ? this.describe(this.current()) : null;
  }

  /**
   * The host the server runs beside, for every viewer (the `host` query, older than hosts): tenants see its
   * record, never its use (`useOf`).
   */
  local(): Host {
    return this.describe(this.current());
  }

  /**
   * What the guests on the host hold (admins; null for tenants: it counts every tenant's guests). Apart from
   * the record, so that naming a host (`Domain.host` on every row of a list) does not count them each time.
   */
  useOf(viewer: Viewer): HostUse | null {
    return isAdmin(viewer) ? this.use(this.current().id) : null;
  }

  /** A live round trip to the local libvirt, for /healthz. */
  healthy(): Promise<boolean> {
    return this.served.view.healthy();
  }

  /** Admins: stop (or resume) placing new guests on a host; guests already there are untouched. */
  setDraining(viewer: Viewer, id: string, draining: boolean): Host {
    this.access.requireAdmin(viewer);
    const host = this.current();
    if (String(host.id) !== id) throw new NotFoundError('host', id);
    this.store.setDraining(host.id, draining);
    this.changed(draining ? 'DRAIN_SET' : 'DRAIN_CLEARED');
    return this.describe(this.current());
  }

  /**
   * Whether the host takes a new guest of `needs`; called inside the create's transaction right after its
   * quota reservation (so a tenant over quota learns nothing of the host's room), which `use` then counts: the
   * draining flag and the reservations read are those every other create sees, so no two creates both take
   * the last room. With one host: that host, unless it is draining or has no room. A DOWN one is not refused
   * here: its state follows libvirt's signals with a lag (a resync after a restart), so libvirt's own answer
   * decides, as it did before hosts (LIBVIRT_UNAVAILABLE, everything reserved undone).
   */
  place(viewer: Viewer, needs: Placing): number {
    const host = this.current();
    if (host.draining)
      throw new NoHostAvailableError(isAdmin(viewer) ? `no host takes new guests: ${host.name} is draining` : TENANT_NO_HOST);
    this.checkRoom(viewer, host, needs, { vcpus: 0, memoryMiB: 0 });
    return host.id;
  }

  /**
   * Whether the domain's host has room for a resize's growth; called inside the resize's transaction after the
   * quota's resize. `reserved`: the domain's reservation already holds the new size (which `use` counts);
   * otherwise (a domain nobody owns) the growth is added here.
   */
  fits(viewer: Viewer, growth: Placing, reserved: boolean): void {
    const grows = { vcpus: Math.max(0, growth.vcpus), memoryMiB: Math.max(0, growth.memoryMiB) };
    this.checkRoom(viewer, this.current(), grows, reserved ? { vcpus: 0, memoryMiB: 0 } : grows);
  }

  /**
   * Throws when, in a dimension that grows, the host's use (plus `extra`) is over its capacity; a change that
   * grows nothing always fits, even on a host already over it. Only admins are told the figures: free room is
   * what every tenant's guests leave, so a tenant learning it would learn of other tenants' guests.
   */
  private checkRoom(viewer: Viewer, host: StoredHost, grows: Placing, extra: Placing): void {
    const capacity = this.capacity();
    if (capacity.vcpus === null && capacity.memoryMiB === null) return;
    if (grows.vcpus <= 0 && grows.memoryMiB <= 0) return;
    const use = this.use(host.id);
    const short: string[] = [];
    const check = (unit: string, need: number, used: number, cap: number | null) => {
      if (cap === null || need <= 0 || used <= cap) return;
      short.push(`${need} ${unit} (${Math.max(0, cap - (used - need))} of ${cap} free)`);
    };
    check('vCPUs', grows.vcpus, use.vcpus + extra.vcpus, capacity.vcpus);
    check('MiB', grows.memoryMiB, use.memoryMiB + extra.memoryMiB, capacity.memoryMiB);
    if (!short.length) return;
    throw new NoHostAvailableError(isAdmin(viewer) ? `no host has room: ${host.name} cannot take ${short.join(' and ')}` : TENANT_NO_ROOM);
  }

  private capacity(): HostCapacity {
    const { cpus, memoryMiB } = this.served.view.info();
    const { cpuAllocationRatio: cpu, memoryAllocationRatio: memory } = this.limits;
    return {
      vcpus: cpu === null ? null : Math.floor(cpus * cpu),
      memoryMiB: memory === null ? null : Math.floor(memoryMiB * memory),
    };
  }

  private current(): StoredHost {
    if (!this.stored) throw new Error('HostRegistry used before start()');
    const fresh = this.store.get(this.stored.id);
    if (fresh) this.stored = fresh;
    return this.stored;
  }

  private describe(host: StoredHost): Host {
    const view = this.served.view.info();
    const state: HostState = view.stale ? 'DOWN' : host.draining ? 'DRAINING' : 'UP';
    return {
      ...view,
      id: String(host.id),
      name: host.name,
      state,
      draining: host.draining,
      capacity: this.capacity(),
    };
  }

  /**
   * Every domain in the cache, at the larger of its size there and its reservation (a resize under way holds
   * its new size before libvirt shows it), and the reservations of domains not in the cache yet (creates under
   * way).
   */
  private use(hostId: number): HostUse {
    const domains = this.served.cache.domains;
    const reserved = new Map<string, { vcpus: number; memoryMiB: number }>();
    for (const r of this.reservations(hostId)) reserved.set(r.domainUuid, r);
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
