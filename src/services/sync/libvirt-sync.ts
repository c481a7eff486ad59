import type { Logger } from 'pino';
import type { LibvirtBus, LibvirtSignal } from '../../libvirt/bus.js';
import { domainStatesByName, listDomainPaths, listNetworkPaths, readHostInfo } from '../../libvirt/connect.js';
import {
  domainEventDetailName,
  domainEventName,
  NETWORK_EVENT_TYPES,
  STATE_AFTER_EVENT,
  type DomainEventType,
  type DomainState,
} from '../../libvirt/constants.js';
import { probeDomain, readDomain } from '../../libvirt/domain.js';
import type { StoragePaths } from '../../libvirt/storage.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { readNetwork } from '../../libvirt/network.js';
import type { DomainRecord, HostInfo, NetworkRecord } from '../../libvirt/types.js';
import { fromLibvirt } from '../errors.js';
import type { EventSink, NetworkLifecycleEvent } from '../events/index.js';
import type { StateCache } from './state-cache.js';

type Read<T> = { ok: T } | { err: LibvirtError };
type Incoming = { type: DomainEventType; detail: string };
/** A domain as one re-read committed it, and the error that re-read met (the copy committed is then older). */
type Committed = { domain: DomainRecord | undefined; failure?: LibvirtError };
/**
 * A change in progress that libvirt announces with `type`: the first such signal's re-read answers for it,
 * unless another signal of the domain came after that one while the call still ran (`superseded`).
 */
type Awaited = { type: DomainEventType; committed?: Promise<Committed>; superseded?: boolean; arrived?: () => void };
/**
 * How long a mutation waits, after libvirt's reply, for the signal announcing its change before it re-reads
 * the domain itself: the signal usually follows the reply within a millisecond (libvirt-dbus sends it from
 * its event loop), and its re-read saves one of our own.
 */
const SIGNAL_AFTER_REPLY_MS = 50;

const TOMBSTONES = 1024;
/** How often the cheap state check (one GetAllDomainStats call) looks for changes no signal announced, by default. */
const CHECK_INTERVAL_MS = 30_000;
/** How long a difference the check finds must last before it counts as unannounced (signals may be on their way). */
const CONFIRM_MS = 3_000;

/** The event a resync reports when it finds a domain in a state no signal announced. */
function eventForStateChange(from: DomainState | undefined, to: DomainState): Incoming | null {
  if (from === to) return null;
  switch (to) {
    case 'RUNNING':
    case 'BLOCKED':
      return from === 'PAUSED' ? { type: 'RESUMED', detail: 'UNPAUSED' } : { type: 'STARTED', detail: 'BOOTED' };
    case 'PAUSED':
      return { type: 'SUSPENDED', detail: 'PAUSED' };
    case 'SHUTOFF':
      return from === undefined ? null : { type: 'STOPPED', detail: 'SHUTDOWN' };
    case 'CRASHED':
      return { type: 'CRASHED', detail: 'PANICKED' };
    case 'PMSUSPENDED':
      return { type: 'PMSUSPENDED', detail: 'MEMORY' };
    default:
      return null;
  }
}

/** A mutation waiting for a re-read must not be answered with the copy from before it when that re-read failed. */
function settle(c: Committed): DomainRecord | undefined {
  if (c.failure) throw fromLibvirt(c.failure);
  return c.domain;
}

function asRead<T>(p: Promise<T>): Promise<Read<T>> {
  return p.then(
    (ok) => ({ ok }),
    (err) => ({ err: err instanceof LibvirtError ? err : new LibvirtError('FAILED', String(err)) }),
  );
}

/**
 * The one path every libvirt change takes: signal → re-read → cache → event log → publish.
 *
 * Each signal gets its place in line on arrival; its re-read starts at once (re-reads run concurrently),
 * but commits (cache update, log append — which gives the cursor —, publish) happen strictly in arrival order. Mutations wait for
 * their own re-read to commit, so they answer from a cache that already holds their effect. On start and
 * whenever `org.libvirt` gets a new owner, everything is re-read and differences become synthetic events;
 * the first load after a server restart is compared with the state the log last knew, so changes made while
 * the server was down are announced too.
 */
export class LibvirtSync {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly tombstones = new Map<string, DomainRecord>();
  /** The latest re-read of each domain still in flight (undefined when it fails): its disk capacities can be reused. */
  private readonly pendingReads = new Map<string, Promise<DomainRecord | undefined>>();
  /** Changes to domains in progress (by path), each waiting for the signal libvirt sends for it. */
  private readonly awaited = new Map<string, Awaited[]>();
  private resyncTimer: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private confirmTimer: NodeJS.Timeout | null = null;
  /** A difference the check saw, and since when: resynced only if it lasts (see check()). */
  private suspect: { key: string; since: number } | null = null;
  private resyncAttempt = 0;
  private stopped = false;
  /** Whether the last contact with libvirt succeeded. */
  connected = false;
  host: HostInfo | null = null;

  constructor(
    private readonly bus: LibvirtBus,
    private readonly driverPath: string,
    private readonly cache: StateCache,
    private readonly events: EventSink,
    private readonly log: Logger,
    /** Remembers storage pool and volume paths for the disk capacity lookups of each re-read. */
    private readonly storagePaths?: StoragePaths,
    private readonly checkIntervalMs: number = CHECK_INTERVAL_MS,
  ) {}

  async start(): Promise<void> {
    this.bus.on('signal', (s: LibvirtSignal) => this.onSignal(s));
    this.bus.on('owner-changed', (owner: string) => {
      if (owner) {
        this.log.info('org.libvirt has a new owner; resyncing');
        this.scheduleResync(0);
      } else {
        this.log.warn('org.libvirt left the bus');
        this.connected = false;
      }
    });
    this.bus.on('disconnected', () => (this.connected = false));
    this.bus.on('reconnected', () => {
      this.log.info('bus connection restored; resyncing');
      this.scheduleResync(0);
    });
    await this.bus.subscribeDriver(this.driverPath);
    const known = this.events.lastKnown();
    if (known) {
      // A restart: what the server knew last time is the baseline, so changes made while it was down are announced.
      for (const d of known.domains) this.cache.setDomain(d);
      for (const n of known.networks) this.cache.setNetwork(n);
    }
    await this.resync(known === null);
    this.checkTimer = setInterval(() => void this.check(), this.checkIntervalMs);
    this.checkTimer.unref();
  }

  /**
   * The periodic cheap check: one call for every domain's state. A difference from the cache (once everything
   * in line has committed) that is still there CONFIRM_MS later means a change went unannounced — e.g. libvirtd
   * restarted behind libvirt-dbus — so everything is reloaded; a failed call marks libvirt unavailable and retries the reload with backoff.
   */
  async check(): Promise<void> {
    if (this.stopped || this.resyncTimer) return;
    try {
      const states = await domainStatesByName(this.bus, this.driverPath);
      await this.tail;
      const cachedNames = new Set<string>();
      const differences: string[] = [];
      for (const d of this.cache.domains.values()) {
        cachedNames.add(d.name);
        if (states.get(d.name) !== d.state) differences.push(`${d.name}:${states.get(d.name) ?? 'gone'}`);
      }
      for (const [name, state] of states) if (!cachedNames.has(name)) differences.push(`${name}:${state}:new`);
      if (differences.length === 0) {
        this.suspect = null;
        return;
      }
      // A change in progress (e.g. a domain PAUSED while it starts) is announced by its signal a moment later:
      // only the same difference seen again after CONFIRM_MS is one no signal will announce.
      const key = differences.sort().join('\n');
      if (this.suspect?.key === key && Date.now() - this.suspect.since >= CONFIRM_MS) {
        this.suspect = null;
        this.log.warn({ differences }, 'state check found changes no signal announced; resyncing');
        this.scheduleResync(0);
      } else if (this.suspect?.key !== key) {
        this.suspect = { key, since: Date.now() };
        if (this.confirmTimer) clearTimeout(this.confirmTimer);
        this.confirmTimer = setTimeout(() => void this.check(), CONFIRM_MS);
        this.confirmTimer.unref();
      }
    } catch (err) {
      if (err instanceof LibvirtError && err.kind === 'UNAVAILABLE') {
        this.connected = false;
        this.scheduleResync(500);
      }
    }
  }

  /** Stops taking signals and lets what is already in line finish, so nothing commits after the log closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    if (this.confirmTimer) clearTimeout(this.confirmTimer);
    await this.tail;
  }

  /** Re-reads one domain through the ordered path and returns it as committed (undefined once gone). */
  async refreshDomain(path: string, opts: { reuseDiskCapacity?: boolean } = {}): Promise<DomainRecord | undefined> {
    return settle(await this.enqueueDomain(path, null, opts.reuseDiskCapacity === true));
  }

  /**
   * Runs `change` (a libvirt call on the domain at `path`) and returns the domain as committed after it, like
   * `change` followed by `refreshDomain`. When libvirt announces the change with an `announcedBy` event and
   * that signal comes while `change` runs, its re-read answers instead of one of our own: it started after
   * libvirt made the change, so it shows it. Only a copy in the state that event leads to is taken (a signal
   * of someone else's change would not show ours), and only when no other signal of the domain followed it
   * before the reply (the answer must not be older than what the cache then holds). A signal that comes
   * after the reply (within SIGNAL_AFTER_REPLY_MS) answers too: its re-read started after the change as well.
   * Otherwise the domain is re-read as usual.
   */
  async changeDomain(
    path: string,
    announcedBy: DomainEventType | null,
    change: () => Promise<unknown>,
    opts: { reuseDiskCapacity?: boolean } = {},
  ): Promise<DomainRecord | undefined> {
    const waiting: Awaited | null = announcedBy ? { type: announcedBy } : null;
    if (waiting) this.awaited.set(path, [...(this.awaited.get(path) ?? []), waiting]);
    try {
      await change();
      if (waiting && !waiting.committed) await this.arrival(waiting, SIGNAL_AFTER_REPLY_MS);
    } finally {
      if (waiting) this.stopAwaiting(path, waiting);
    }
    const announced = waiting && (await waiting.committed);
    if (waiting && announced && !waiting.superseded && !announced.failure && announced.domain?.state === STATE_AFTER_EVENT[waiting.type]) return announced.domain;
    return this.refreshDomain(path, opts);
  }

  /** Resolves when the signal `waiting` is for has come, or after `ms`. */
  private arrival(waiting: Awaited, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      waiting.arrived = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private stopAwaiting(path: string, waiting: Awaited): void {
    const rest = (this.awaited.get(path) ?? []).filter((a) => a !== waiting);
    if (rest.length) this.awaited.set(path, rest);
    else this.awaited.delete(path);
  }

  refreshNetwork(path: string): Promise<NetworkRecord | undefined> {
    return this.enqueueNetwork(path, null);
  }

  /**
   * Commits, in line, a change to a network this process made and knows the effect of, for calls libvirt
   * announces with no event (virNetworkUpdate): `amend` gets the copy as committed just before and returns the
   * new one. Saves re-reading the network. Answers with the copy committed (undefined when not cached).
   */
  async amendNetwork(path: string, amend: (network: NetworkRecord) => NetworkRecord): Promise<NetworkRecord | undefined> {
    let result: NetworkRecord | undefined;
    await this.enqueue(Promise.resolve(), () => {
      const current = this.cache.networkByPath(path);
      if (!current) return;
      result = amend(current);
      this.cache.setNetwork(result);
    });
    return result;
  }

  private onSignal(sig: LibvirtSignal): void {
    if (this.stopped) return;
    if (sig.path !== this.driverPath || sig.iface !== 'org.libvirt.Connect') return;
    if (sig.member === 'DomainEvent') {
      const [path, typeCode, detailCode] = sig.body as [string, number, number];
      const type = domainEventName(typeCode);
      if (!type) return;
      // A failed commit is logged in line (enqueue); here it only means the re-read answers for no change.
      const committed = this.enqueueDomain(path, { type, detail: domainEventDetailName(type, detailCode) }).catch(
        (err): Committed => ({ domain: undefined, failure: err instanceof LibvirtError ? err : new LibvirtError('FAILED', String(err)) }),
      );
      const changes = this.awaited.get(path) ?? [];
      // A change whose signal came already is superseded by any later one before its reply.
      for (const a of changes) if (a.committed) a.superseded = true;
      const waiting = changes.find((a) => a.type === type && !a.committed);
      if (waiting) {
        waiting.committed = committed;
        waiting.arrived?.();
      }
    } else if (sig.member === 'NetworkEvent') {
      const [path, typeCode] = sig.body as [string, number];
      const type = NETWORK_EVENT_TYPES[typeCode];
      // A failed commit is logged in line (enqueue).
      if (type) this.enqueueNetwork(path, type).catch(() => undefined);
    }
  }

  private enqueue<T>(read: Promise<T>, commit: (r: T) => void | Promise<void>): Promise<void> {
    const done = this.tail.then(async () => commit(await read));
    this.tail = done.catch((err) => this.log.error({ err }, 'commit failed'));
    return done;
  }

  private enqueueDomain(path: string, event: Incoming | null, reuseDiskCapacity = false): Promise<Committed> {
    let result: DomainRecord | undefined;
    // Event re-reads reuse disk capacities already known (events never resize volumes); refreshes read them anew.
    // A re-read of the same domain still in flight is newer than the cache (e.g. DEFINED's, when STARTED arrives).
    // Name and persistence change only with DEFINED and UNDEFINED, autostart with no event at all: other
    // events' re-reads take them from the copy known before (one call fewer).
    const sameProperties = event !== null && event.type !== 'DEFINED' && event.type !== 'UNDEFINED';
    const cached = event || reuseDiskCapacity ? this.cache.domainByPath(path) : undefined;
    const inFlight = event || reuseDiskCapacity ? this.pendingReads.get(path) : undefined;
    // When the read in flight finds the domain gone, what comes next may be another domain by that UUID (a
    // transient one started at once): its properties are then read, not taken from the copy before.
    const known = inFlight ? inFlight.then((r) => r ?? (sameProperties ? undefined : cached)) : cached;
    const lane = event ? 'bulk' : 'interactive';
    const readAll = () => readDomain(this.bus, this.driverPath, path, lane, known, this.storagePaths, { sameProperties });
    // After UNDEFINED the domain is usually gone (unless it still runs, now transient): one call tells.
    const reading = event?.type === 'UNDEFINED' ? probeDomain(this.bus, path, lane).then(readAll) : readAll();
    const settled = reading.then(
      (r) => r,
      () => undefined,
    );
    this.pendingReads.set(path, settled);
    void settled.then(() => {
      if (this.pendingReads.get(path) === settled) this.pendingReads.delete(path);
    });
    const read = asRead(reading);
    let failure: LibvirtError | undefined;
    return this.enqueue(read, (r) => {
      result = this.commitDomain(path, r, event);
      if ('err' in r && r.err.kind !== 'NOT_FOUND') failure = r.err;
    }).then(() => ({ domain: result, failure }));
  }

  private commitDomain(path: string, read: Read<DomainRecord>, event: Incoming | null): DomainRecord | undefined {
    const previous = this.cache.domainByPath(path) ?? this.tombstones.get(path);
    if ('ok' in read) {
      this.connected = true;
      this.tombstones.delete(path);
      this.cache.setDomain(read.ok);
      if (event) this.publishDomain(event, read.ok, false, previous);
      return read.ok;
    }
    if (read.err.kind === 'NOT_FOUND') {
      // Undefined, or a transient domain that stopped: it can no longer be read, so its last copy speaks for it.
      if (previous) {
        const gone = { ...previous, active: false, state: 'SHUTOFF' as const };
        // Out of the cache before it is announced: a listener asking "does it still exist?" gets the truth.
        this.cache.deleteDomain(previous.uuid);
        this.remember(path, gone);
        if (event) this.publishDomain(event, gone, false);
      }
      return undefined;
    }
    if (read.err.kind === 'UNAVAILABLE') this.connected = false;
    this.log.warn({ path, err: read.err.message }, 'domain re-read failed; resync will correct the cache');
    if (event && previous) this.publishDomain(event, previous, false);
    if (!this.connected) this.scheduleResync(500);
    return previous;
  }

  private remember(path: string, record: DomainRecord): void {
    this.tombstones.set(path, record);
    if (this.tombstones.size > TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value!);
  }

  /**
   * The event carries the state the domain was in right after it happened, not the state its re-read found
   * later. A definition changes no state: DEFINED keeps the state known before it (SHUTOFF for a new domain,
   * whose re-read may already see a start in progress — PAUSED while QEMU starts — or done).
   */
  private publishDomain(event: Incoming, domain: DomainRecord, synthetic: boolean, before?: DomainRecord): void {
    const defined = event.type === 'DEFINED' ? (before?.uuid === domain.uuid ? before.state : 'SHUTOFF') : undefined;
    const state = STATE_AFTER_EVENT[event.type] ?? defined ?? domain.state;
    this.events.domain({
      type: event.type,
      detail: event.detail,
      at: new Date(),
      domain: state === domain.state ? domain : { ...domain, state, active: state !== 'SHUTOFF' },
      synthetic,
    });
  }

  private enqueueNetwork(path: string, type: NetworkLifecycleEvent['type'] | null): Promise<NetworkRecord | undefined> {
    let result: NetworkRecord | undefined;
    let failure: LibvirtError | undefined;
    const read = asRead(readNetwork(this.bus, path, type ? 'bulk' : 'interactive'));
    return this.enqueue(read, (r) => {
      if (!type && 'err' in r && r.err.kind !== 'NOT_FOUND') failure = r.err;
      const previous = this.cache.networkByPath(path);
      if ('ok' in r) {
        this.cache.setNetwork(r.ok);
        result = r.ok;
      } else if (r.err.kind === 'NOT_FOUND' && previous) {
        this.cache.deleteNetwork(previous.uuid);
      }
      const network = result ?? previous;
      // As with domains, the event says what state followed it; the re-read may already see a later one.
      const active = type === 'STARTED' ? true : type === 'STOPPED' ? false : network?.active;
      if (type && network) this.events.network({ type, at: new Date(), network: { ...network, active: active! }, synthetic: false });
    }).then(() => {
      if (failure) throw fromLibvirt(failure);
      return result;
    });
  }

  private scheduleResync(delayMs: number): void {
    if (this.stopped) return;
    if (this.resyncTimer) {
      // A retry waiting out its backoff is brought forward when there is news (a new owner, the bus back).
      if (delayMs > 0) return;
      clearTimeout(this.resyncTimer);
      this.resyncTimer = null;
    }
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      this.resync(false).then(
        () => (this.resyncAttempt = 0),
        (err) => {
          this.resyncAttempt++;
          const next = Math.min(250 * 2 ** this.resyncAttempt, 10_000);
          this.log.warn({ err: String(err), retryInMs: next }, 'resync failed');
          this.scheduleResync(next);
        },
      );
    }, delayMs);
  }

  /**
   * Reloads every domain and network and commits the difference in line with signals. On the first load
   * nothing is announced; later, each difference is published as a synthetic event.
   */
  async resync(initial: boolean): Promise<void> {
    const load = (async () => {
      const [domainPaths, networkPaths, host] = await Promise.all([
        listDomainPaths(this.bus, this.driverPath),
        listNetworkPaths(this.bus, this.driverPath),
        readHostInfo(this.bus, this.driverPath),
      ]);
      const domains = await Promise.all(domainPaths.map((p) => asRead(readDomain(this.bus, this.driverPath, p, 'bulk', undefined, this.storagePaths))));
      const networks = await Promise.all(networkPaths.map((p) => asRead(readNetwork(this.bus, p, 'bulk'))));
      const failed = [...domains, ...networks].find((r) => 'err' in r && r.err.kind !== 'NOT_FOUND');
      if (failed && 'err' in failed) throw failed.err;
      const ok = <T>(rs: Read<T>[]) => rs.flatMap((r) => ('ok' in r ? [r.ok] : []));
      return { domains: ok(domains), networks: ok(networks), host };
    })();
    let failure: unknown;
    await this.enqueue(
      load.catch((err) => {
        failure = err;
        return null;
      }),
      (loaded) => {
        if (!loaded) return;
        this.applySnapshot(loaded.domains, loaded.networks, initial);
        this.events.snapshot(this.cache.domains.values(), this.cache.networks.values());
        this.host = loaded.host;
        this.connected = true;
      },
    );
    if (failure) {
      this.connected = false;
      await load; // rejects with `failure`, the load's own error
    }
  }

  private applySnapshot(domains: DomainRecord[], networks: NetworkRecord[], initial: boolean): void {
    const seen = new Set<string>();
    for (const d of domains) {
      seen.add(d.uuid);
      const before = this.cache.domains.get(d.uuid);
      this.cache.setDomain(d);
      if (initial) continue;
      if (!before) this.publishDomain({ type: 'DEFINED', detail: 'ADDED' }, { ...d, state: 'SHUTOFF' }, true);
      const change = eventForStateChange(before?.state ?? 'SHUTOFF', d.state);
      if (change) this.publishDomain(change, d, true);
    }
    for (const [uuid, d] of [...this.cache.domains]) {
      if (seen.has(uuid)) continue;
      this.cache.deleteDomain(uuid);
      if (d.active) this.publishDomain({ type: 'STOPPED', detail: 'DESTROYED' }, d, true);
      if (d.persistent) this.publishDomain({ type: 'UNDEFINED', detail: 'REMOVED' }, { ...d, state: 'SHUTOFF', active: false }, true);
    }
    const seenNetworks = new Set(networks.map((n) => n.uuid));
    const announce = (type: NetworkLifecycleEvent['type'], network: NetworkRecord) =>
      !initial && this.events.network({ type, at: new Date(), network, synthetic: true });
    for (const n of networks) {
      const before = this.cache.networks.get(n.uuid);
      this.cache.setNetwork(n);
      if (!before) announce('DEFINED', { ...n, active: false });
      if (n.active && !before?.active) announce('STARTED', n);
      if (!n.active && before?.active) announce('STOPPED', n);
    }
    for (const [uuid, n] of [...this.cache.networks]) {
      if (seenNetworks.has(uuid)) continue;
      this.cache.deleteNetwork(uuid);
      if (n.active) announce('STOPPED', { ...n, active: false });
      announce('UNDEFINED', { ...n, active: false });
    }
  }
}
