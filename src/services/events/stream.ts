import type { Logger } from 'pino';
import type {
  DomainLifecycleEvent,
  DomainRecord,
  HostLifecycleEvent,
  NetworkLifecycleEvent,
  NetworkRecord,
  NewDomainEvent,
  NewHostEvent,
  NewNetworkEvent,
} from '../../model/index.js';
import type { AccessPolicy } from '../access/index.js';
import { CursorExpiredError, EventHub, type Subscriber } from './hub.js';
import { EventLog, type Appended, type Appending, type CursorHold, type LogFilter, type Retention } from './log.js';
import type { EventSink } from '../sync/index.js';
import type { StorageHealth } from '../instance/index.js';

/** A full snapshot of one host's known objects, after a (re)load: it takes its place among the events around it. */
interface HeldKnown {
  kind: 'KNOWN';
  hostId: number;
  domains: DomainRecord[];
  networks: NetworkRecord[];
}

/**
 * An event on its way to the log (a group of them, or one the log could not take yet: storage failing), or a
 * snapshot, in arrival order: a snapshot written after events that came later would undo what they say.
 */
type Held = Appending | HeldKnown;

const PAGE = 256;
const PRUNE_EVERY_APPENDS = 1000;
const PRUNE_INTERVAL_MS = 60_000;

/** One page of a replay: the matching events, and how far the log was scanned to find them. */
interface Page<E> {
  events: E[];
  scannedThrough: number;
}

/**
 * Replay, then live, without a gap or a duplicate. The live subscription is registered first (and buffers);
 * then the log is read from the cursor in pages; then live events pass, skipping any the replay covered
 * (every event is in the log before it is published, so the replay may overtake the live buffer).
 */
class ReplayThenLive<E extends { seq: number }> implements AsyncIterableIterator<E> {
  private pending: E[] = [];
  private replaying: boolean;
  private scanned: number;
  private closed = false;

  constructor(
    private readonly live: Subscriber<E>,
    private readonly readPage: (after: number) => Page<E> | null,
    start: { after: number; replay: boolean },
    private readonly hold: CursorHold,
  ) {
    this.replaying = start.replay;
    this.scanned = start.after;
  }

  private deliver(e: E): IteratorResult<E> {
    this.hold.cursor = e.seq;
    return { value: e, done: false };
  }

  async next(): Promise<IteratorResult<E>> {
    while (this.replaying && !this.closed) {
      const e = this.pending.shift();
      if (e) return this.deliver(e);
      const page = this.readPage(this.scanned);
      if (!page) this.replaying = false;
      else {
        this.scanned = page.scannedThrough;
        this.pending = page.events;
      }
    }
    try {
      for (;;) {
        const r = await this.live.next();
        if (r.done) {
          this.hold.release();
          return r;
        }
        if (r.value.seq <= this.scanned) continue; // already replayed (or filtered out by the replay)
        return this.deliver(r.value);
      }
    } catch (err) {
      this.hold.release();
      throw err;
    }
  }

  async return(): Promise<IteratorResult<E>> {
    this.closed = true;
    this.pending = [];
    this.hold.release();
    await this.live.return();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<E>> {
    await this.return();
    throw err;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export interface StreamRequest<E> {
  kind: 'DOMAIN' | 'NETWORK' | 'HOST';
  /** Resume after this cursor (replaying what was missed); null = live only. */
  after: number | null;
  /** Narrows history and replay in SQL; `count` relies on it alone. */
  sql: Omit<LogFilter, 'kind'>;
  /** Applied to live and replayed events alike (visibility and filters). */
  accept: (e: E) => boolean;
}

/**
 * The commit end of the event path: every event is appended to the durable log (getting its cursor) and only
 * then published to live subscribers. One log and one cursor sequence for every host: each host's sync commits
 * through its own `forHost` sink. Also serves replays, history pages and retention.
 */
export class EventStream {
  readonly domains: EventHub<DomainLifecycleEvent>;
  readonly networks: EventHub<NetworkLifecycleEvent>;
  readonly hosts: EventHub<HostLifecycleEvent>;
  private appendsSincePrune = 0;
  private timer: NodeJS.Timeout | null = null;
  /**
   * Events the log could not take (disk full): kept in order and appended — then published — once it can, so
   * none is lost and none is heard before it has its cursor. While any wait, later events wait behind them.
   */
  private readonly held: Held[] = [];
  private readonly storage: StorageHealth | undefined;
  /** Inside `batch`: events wait in `held` until the group is done. */
  private batching = 0;

  constructor(
    readonly log: EventLog,
    private readonly access: AccessPolicy,
    private readonly retention: Retention,
    private readonly logger: Logger,
    opts: { bufferLimit?: number; storage?: StorageHealth } = {},
  ) {
    this.domains = new EventHub(opts.bufferLimit);
    this.networks = new EventHub(opts.bufferLimit);
    this.hosts = new EventHub(opts.bufferLimit);
    this.storage = opts.storage;
    this.storage?.onRetry(() => this.flush());
  }

  /** How many events wait for the log to take them. */
  get heldCount(): number {
    return this.held.filter((h) => h.kind !== 'KNOWN').length;
  }

  start(): void {
    this.prune();
    this.timer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Where the sync of host `hostId` commits: its events and snapshots, told apart from other hosts' by it. */
  forHost(hostId: number): EventSink {
    return {
      domain: (event) => this.domain(hostId, event),
      network: (event) => this.network(hostId, event),
      snapshot: (domains, networks) => this.snapshot(hostId, domains, networks),
      batch: (work) => this.batch(work),
      lastKnown: () => this.log.loadKnown(hostId),
    };
  }

  private domain(hostId: number, event: NewDomainEvent): void {
    // The owner as of the event, not as of a later append.
    this.held.push({ kind: 'DOMAIN', hostId, event, ownerId: this.access.ownerOf(event.domain) });
    if (!this.batching) this.flush();
  }

  private network(hostId: number, event: NewNetworkEvent): void {
    this.held.push({ kind: 'NETWORK', hostId, event });
    if (!this.batching) this.flush();
  }

  /** A host's state changed (the hosts module): logged and published in line with everything else. */
  host(event: NewHostEvent): void {
    this.held.push({ kind: 'HOST', event });
    if (!this.batching) this.flush();
  }

  private batch(work: () => void): void {
    this.batching++;
    try {
      work();
    } finally {
      if (--this.batching === 0) this.flush();
    }
  }

  private snapshot(hostId: number, domains: Iterable<DomainRecord>, networks: Iterable<NetworkRecord>): void {
    // In line: after the events held before it (their appends update known objects too, with older copies),
    // before those that come while it waits. An older snapshot of the same host still waiting with no event
    // after it (other hosts' snapshots may be) is superseded, so alternating reloads do not pile up.
    for (let i = this.held.length - 1; i >= 0 && this.held[i]!.kind === 'KNOWN'; i--) {
      if ((this.held[i] as HeldKnown).hostId !== hostId) continue;
      this.held.splice(i, 1);
      break;
    }
    this.held.push({ kind: 'KNOWN', hostId, domains: [...domains], networks: [...networks] });
    if (!this.batching) this.flush();
  }

  /**
   * Appends (then publishes) held events and writes held snapshots, in order. Stops at the first write the
   * storage refuses, keeping it and everything after it; true when nothing is left. Any other failure drops that
   * event (logged) as before, so one bad record cannot hold up the rest (a snapshot's is thrown to its caller).
   */
  private flush(): boolean {
    this.appendTogether();
    while (this.held.length) {
      const next = this.held[0]!;
      if (next.kind === 'KNOWN') {
        try {
          this.log.saveKnown(next.hostId, next.domains, next.networks, (d) => this.access.ownerOf(d));
        } catch (err) {
          if (this.storage?.noteFailure(err)) return false;
          this.held.shift();
          throw err;
        }
        this.held.shift();
        this.appendTogether();
        continue;
      }
      try {
        this.publish(this.log.appendOne(next));
      } catch (err) {
        if (this.storage?.noteFailure(err)) {
          this.logger.warn({ held: this.held.length }, 'event log cannot be written: events wait in memory');
          return false;
        }
        this.held.shift();
        this.logger.error({ err, type: next.event.type }, 'appending an event failed; it is dropped');
        continue;
      }
      this.held.shift();
      this.afterAppend();
    }
    return true;
  }

  /**
   * Appends the held events up to the next held snapshot in one transaction (one sync to disk), then publishes
   * them in order. When that fails nothing was written, and the one-by-one path in `flush` meets the failure
   * again and deals with it (holding on a storage failure, dropping a bad record).
   */
  private appendTogether(): void {
    const end = this.held.findIndex((h) => h.kind === 'KNOWN');
    const run = (end === -1 ? this.held : this.held.slice(0, end)) as Appending[];
    if (run.length < 2) return;
    let appended: Appended[];
    try {
      appended = this.log.appendAll(run);
    } catch {
      return;
    }
    this.held.splice(0, appended.length);
    for (const a of appended) {
      this.publish(a);
      this.afterAppend();
    }
  }

  private publish(a: Appended): void {
    switch (a.kind) {
      case 'DOMAIN':
        return this.domains.publish(a.event);
      case 'NETWORK':
        return this.networks.publish(a.event);
      case 'HOST':
        return this.hosts.publish(a.event);
    }
  }

  private afterAppend(): void {
    // Often enough that the count limit is never overshot by more than a tenth.
    const every =
      this.retention.maxCount > 0 ? Math.min(PRUNE_EVERY_APPENDS, Math.ceil(this.retention.maxCount / 10)) : PRUNE_EVERY_APPENDS;
    if (++this.appendsSincePrune >= every) this.prune();
  }

  prune(): number {
    this.appendsSincePrune = 0;
    try {
      const n = this.log.prune(this.retention);
      if (n) this.logger.debug({ pruned: n }, 'pruned old events');
      return n;
    } catch (err) {
      this.logger.error({ err }, 'pruning the event log failed');
      return 0;
    }
  }

  /** Throws CURSOR_EXPIRED for a cursor the log cannot resume from (pruned, or from another database). */
  checkCursor(after: number): void {
    if (!this.log.canResumeAfter(after)) {
      throw new CursorExpiredError(
        after > this.log.lastId()
          ? 'this cursor is unknown to this server (its event log was reset); re-list the current state and subscribe again without it'
          : undefined,
      );
    }
  }

  private pageReader<E extends { seq: number }>(req: StreamRequest<E>, limit = PAGE) {
    type Row = ReturnType<EventLog['read']>[number];
    const convert = {
      DOMAIN: (r: Row) => EventLog.toDomainEvent(r),
      NETWORK: (r: Row) => EventLog.toNetworkEvent(r),
      HOST: (r: Row) => EventLog.toHostEvent(r),
    }[req.kind];
    const toEvent = convert as unknown as (r: Row) => E;
    return (after: number): Page<E> | null => {
      const rows = this.log.read(after, { kind: req.kind, ...req.sql }, limit);
      if (rows.length === 0) return null;
      return { events: rows.map(toEvent).filter(req.accept), scannedThrough: rows.at(-1)!.id };
    };
  }

  subscribe<E extends { seq: number }>(req: StreamRequest<E>): AsyncIterableIterator<E> {
    if (req.after !== null) this.checkCursor(req.after);
    const hub = { DOMAIN: this.domains, NETWORK: this.networks, HOST: this.hosts }[req.kind] as unknown as EventHub<E>;
    const live = hub.subscribe(req.accept); // first: nothing committed from here on can be missed
    const after = req.after ?? this.log.lastId();
    return new ReplayThenLive(live, this.pageReader(req), { after, replay: req.after !== null }, this.log.hold(after));
  }

  /**
   * How many events the request matches in the log, wherever a cursor stands. Its SQL filter must be the whole
   * filter (what `accept` checks too), or this counts events the viewer is never shown.
   */
  count<E>(req: StreamRequest<E>): number {
    return this.log.count({ kind: req.kind, ...req.sql });
  }

  /** Up to `first` matching events after the cursor (oldest first), and whether more follow. */
  history<E extends { seq: number }>(req: StreamRequest<E>, first: number): { events: E[]; hasNextPage: boolean } {
    if (req.after !== null) this.checkCursor(req.after);
    const read = this.pageReader(req, Math.max(first + 1, 64));
    const out: E[] = [];
    let scanned = req.after ?? this.log.prunedThrough();
    for (;;) {
      const page = read(scanned);
      if (!page) break;
      out.push(...page.events);
      scanned = page.scannedThrough;
      if (out.length > first) break;
    }
    return { events: out.slice(0, first), hasNextPage: out.length > first };
  }
}
