import type { Logger } from 'pino';
import type { LibvirtBus, LibvirtSignal } from '../../libvirt/bus.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import { domainEventDetailName, domainEventName } from '../../libvirt/constants.js';
import {
  type DomainEventType,
  type DomainRecord,
  type HostInfo,
  NETWORK_EVENT_TYPES,
  type NetworkRecord,
  STATE_AFTER_EVENT,
} from '../../model/index.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { fromLibvirt } from '../errors.js';
import type { EventSink } from './event-sink.js';
import { AwaitedChanges, type Committed } from './changes.js';
import { CommitLine } from './line.js';
import { ResyncTimer } from './resync-timer.js';
import { applySnapshot, type Incoming, loadAll } from './snapshot.js';
import type { StateCache } from './state-cache.js';
import { Rereads, SyncHealth } from './rereads.js';
import { StateCheck } from './state-check.js';

/**
 * How long a mutation waits, after libvirt's reply, for the signal announcing its change before it re-reads
 * the domain itself: the signal usually follows the reply within a millisecond (libvirt-dbus sends it from
 * its event loop), and its re-read saves one of our own.
 */
const SIGNAL_AFTER_REPLY_MS = 50;

/** How often the cheap state check (one GetAllDomainStats call) looks for changes no signal announced, by default. */
const CHECK_INTERVAL_MS = 30_000;

/** A mutation waiting for a re-read must not be answered with the copy from before it when that re-read failed. */
function settle(c: Committed): DomainRecord | undefined {
  if (c.failure) throw fromLibvirt(c.failure);
  return c.domain;
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
  private readonly line: CommitLine;
  private readonly changes = new AwaitedChanges();
  private readonly stateCheck: StateCheck;
  private readonly rereads: Rereads;
  private readonly resyncs: ResyncTimer;
  private checkTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly health = new SyncHealth(() => this.scheduleResync(500));
  host: HostInfo | null = null;

  private readonly bus: LibvirtBus;
  private readonly driverPath: string;

  constructor(
    /** Its storage paths are remembered for the disk capacity lookups of each re-read. */
    private readonly libvirt: LibvirtClient,
    private readonly cache: StateCache,
    private readonly events: EventSink,
    private readonly log: Logger,
    private readonly checkIntervalMs: number = CHECK_INTERVAL_MS,
  ) {
    this.bus = libvirt.bus;
    this.driverPath = libvirt.driverPath;
    this.line = new CommitLine(log, events.batch ? (work) => events.batch!(work) : undefined);
    this.resyncs = new ResyncTimer(() => this.resync(false), log);
    this.rereads = new Rereads(libvirt, cache, events, log, this.line, this.health);
    this.stateCheck = new StateCheck(
      cache,
      {
        readStates: () => this.libvirt.domains.statesByName(),
        drained: () => this.line.drained(),
        idle: () => this.stopped || this.resyncs.pending,
        unannounced: () => this.scheduleResync(0),
        unavailable: () => {
          this.connected = false;
          this.scheduleResync(500);
        },
      },
      log,
    );
  }

  /** Whether the last contact with libvirt succeeded. */
  get connected(): boolean {
    return this.health.connected;
  }

  set connected(value: boolean) {
    this.health.connected = value;
  }

  /** Told each time libvirt goes away (`false`) or answers again after a reload of everything (`true`). */
  onConnectedChange(listener: (connected: boolean) => void): void {
    this.health.onChange(listener);
  }

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

  /** The periodic cheap check for changes no signal announced (state-check.ts). */
  check(): Promise<void> {
    return this.stateCheck.check();
  }

  /** Stops taking signals and lets what is already in line finish, so nothing commits after the log closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.resyncs.stop();
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.stateCheck.stop();
    await this.line.drained();
  }

  /**
   * Re-reads one domain through the ordered path and returns it as committed (undefined once gone). With
   * `announce`, the copy read is published as that (synthetic) event, for a change libvirt signals nothing of.
   */
  async refreshDomain(
    path: string,
    opts: { reuseDiskCapacity?: boolean; announce?: Omit<Incoming, 'synthetic'> } = {},
  ): Promise<DomainRecord | undefined> {
    const event = opts.announce ? { ...opts.announce, synthetic: true } : null;
    return settle(await this.rereads.domain(path, event, opts.reuseDiskCapacity === true));
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
    const waiting = announcedBy ? this.changes.expect(path, announcedBy) : null;
    try {
      await change();
      if (waiting && !waiting.committed) await this.changes.arrival(waiting, SIGNAL_AFTER_REPLY_MS);
    } finally {
      if (waiting) this.changes.stop(path, waiting);
    }
    const announced = waiting && (await waiting.committed);
    if (waiting && announced && !waiting.superseded && !announced.failure && announced.domain?.state === STATE_AFTER_EVENT[waiting.type])
      return announced.domain;
    return this.refreshDomain(path, opts);
  }

  refreshNetwork(path: string): Promise<NetworkRecord | undefined> {
    return this.rereads.network(path, null);
  }

  /**
   * Commits, in line, a change to a network this process made and knows the effect of, for calls libvirt
   * announces with no event (virNetworkUpdate): `amend` gets the copy as committed just before and returns the
   * new one. Saves re-reading the network. Answers with the copy committed (undefined when not cached).
   */
  async amendNetwork(path: string, amend: (network: NetworkRecord) => NetworkRecord): Promise<NetworkRecord | undefined> {
    let result: NetworkRecord | undefined;
    await this.line.enqueue(
      Promise.resolve(),
      () => {
        const current = this.cache.networkByPath(path);
        if (!current) return;
        result = amend(current);
        this.cache.setNetwork(result);
      },
      path,
    );
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
      const committed = this.rereads.domain(path, { type, detail: domainEventDetailName(type, detailCode) }).catch((err): Committed => ({
        domain: undefined,
        failure: err instanceof LibvirtError ? err : new LibvirtError('FAILED', String(err)),
      }));
      this.changes.signalled(path, type, committed);
    } else if (sig.member === 'NetworkEvent') {
      const [path, typeCode] = sig.body as [string, number];
      const type = NETWORK_EVENT_TYPES[typeCode];
      // A failed commit is logged in line (enqueue).
      if (type) this.rereads.network(path, type).catch(() => undefined);
    }
  }

  private scheduleResync(delayMs: number): void {
    if (!this.stopped) this.resyncs.schedule(delayMs);
  }

  /**
   * Reloads every domain and network and commits the difference in line with signals. On the first load
   * nothing is announced; later, each difference is published as a synthetic event.
   */
  async resync(initial: boolean): Promise<void> {
    const load = loadAll(this.libvirt);
    let failure: unknown;
    await this.line.enqueue(
      load.catch((err) => {
        failure = err;
        return null;
      }),
      (loaded) => {
        if (!loaded) return;
        applySnapshot(this.cache, loaded.domains, loaded.networks, initial, {
          domain: (event, d) => this.rereads.publish(event, d, true),
          network: (type, network) => this.events.network({ type, at: new Date(), network, synthetic: true }),
        });
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
}
