import type { Db } from '../../db/index.js';
import { EventStore, type EventFilter, type EventRow, type NewEventRow } from '../../db/stores/events.js';
import type {
  DomainLifecycleEvent,
  DomainRecord,
  HostLifecycleEvent,
  HostSnapshot,
  NetworkLifecycleEvent,
  NetworkRecord,
  NewDomainEvent,
  NewHostEvent,
  NewNetworkEvent,
} from '../../model/index.js';
import { metered } from '../usage/index.js';

export interface Retention {
  /** Keep at most this many events (0 = no limit). */
  maxCount: number;
  /** Drop events older than this (0 = no limit). */
  maxAgeMs: number;
}

export type LogFilter = EventFilter;

type Row = EventRow;

/** An event to append, with its host and the owner it is recorded under (domains). */
export type Appending =
  | { kind: 'DOMAIN'; hostId: number; event: NewDomainEvent; ownerId: string | null }
  | { kind: 'NETWORK'; hostId: number; event: NewNetworkEvent }
  | { kind: 'HOST'; event: NewHostEvent };

/** An event as appended: with its cursor. */
export type Appended =
  | { kind: 'DOMAIN'; event: DomainLifecycleEvent }
  | { kind: 'NETWORK'; event: NetworkLifecycleEvent }
  | { kind: 'HOST'; event: HostLifecycleEvent };

/** A subscriber's position, which pruning must not pass. */
export interface CursorHold {
  cursor: number;
  release(): void;
}

/**
 * The durable event log (SQLite). Appends are synchronous (better-sqlite3), so an event is on disk before
 * anyone hears of it; the row id is the cursor. Also keeps `known_objects`, the last state the server knew,
 * in the same transaction as each append.
 */
export class EventLog {
  private readonly holds = new Set<CursorHold>();
  private readonly store: EventStore;

  constructor(db: Db) {
    this.store = new EventStore(db);
  }

  appendDomain(hostId: number, e: NewDomainEvent, ownerId: string | null): DomainLifecycleEvent {
    return { ...e, seq: this.store.append(EventLog.domainRow(hostId, e, ownerId)), hostId, ownerId };
  }

  /** Appends events that came together, in order, in one transaction: all of them, or (throwing) none. */
  appendAll(events: readonly Appending[]): Appended[] {
    const seqs = this.store.appendAll(events.map((a) => EventLog.rowOf(a)));
    return events.map((a, i) => EventLog.appended(a, seqs[i]!));
  }

  /** Appends one held event (its own transaction); answers it with its cursor. */
  appendOne(a: Appending): Appended {
    return EventLog.appended(a, this.store.append(EventLog.rowOf(a)));
  }

  private static appended(a: Appending, seq: number): Appended {
    switch (a.kind) {
      case 'DOMAIN':
        return { kind: 'DOMAIN', event: { ...a.event, seq, hostId: a.hostId, ownerId: a.ownerId } };
      case 'NETWORK':
        return { kind: 'NETWORK', event: { ...a.event, seq, hostId: a.hostId } };
      case 'HOST':
        return { kind: 'HOST', event: { ...a.event, seq } };
    }
  }

  /** The last state change logged for a host, or null (none yet, or pruned). */
  latestHostEvent(hostId: string): HostLifecycleEvent | null {
    const row = this.store.latestOf('HOST', hostId);
    return row ? EventLog.toHostEvent(row) : null;
  }

  private static rowOf(a: Appending): NewEventRow {
    switch (a.kind) {
      case 'DOMAIN':
        return EventLog.domainRow(a.hostId, a.event, a.ownerId);
      case 'NETWORK':
        return EventLog.networkRow(a.hostId, a.event);
      case 'HOST':
        return EventLog.hostRow(a.event);
    }
  }

  private static hostRow(e: NewHostEvent): NewEventRow {
    return {
      kind: 'HOST',
      hostId: Number(e.host.id),
      uuid: e.host.id,
      name: e.host.name,
      ownerId: null,
      type: e.type,
      detail: e.detail,
      state: e.type,
      at: e.at,
      synthetic: e.synthetic,
      snapshot: e.host,
      gone: false,
    };
  }

  private static domainRow(hostId: number, e: NewDomainEvent, ownerId: string | null): NewEventRow {
    const { domain } = e;
    return {
      kind: 'DOMAIN',
      hostId,
      uuid: domain.uuid,
      name: domain.name,
      ownerId,
      type: e.type,
      detail: e.detail,
      state: domain.state,
      at: e.at,
      synthetic: e.synthetic,
      snapshot: domain,
      gone: e.type === 'UNDEFINED',
      usage: metered(hostId, domain, ownerId, e.type === 'UNDEFINED'),
    };
  }

  private static networkRow(hostId: number, e: NewNetworkEvent): NewEventRow {
    const { network } = e;
    return {
      kind: 'NETWORK',
      hostId,
      uuid: network.uuid,
      name: network.name,
      ownerId: null,
      type: e.type,
      detail: '',
      state: network.active ? 'ACTIVE' : 'INACTIVE',
      at: e.at,
      synthetic: e.synthetic,
      snapshot: network,
      gone: e.type === 'UNDEFINED',
    };
  }

  /**
   * Replaces one host's known state as a whole (after a full load of its libvirt), and the usage periods of
   * its domains follow it.
   */
  saveKnown(
    hostId: number,
    domains: Iterable<DomainRecord>,
    networks: Iterable<NetworkRecord>,
    ownerOf: (d: DomainRecord) => string | null,
  ): void {
    const all = [...domains];
    this.store.replaceKnown(
      hostId,
      [
        ...all.map((d) => ({ kind: 'DOMAIN' as const, uuid: d.uuid, snapshot: d })),
        ...[...networks].map((n) => ({ kind: 'NETWORK' as const, uuid: n.uuid, snapshot: n })),
      ],
      all.map((d) => metered(hostId, d, ownerOf(d))),
    );
  }

  /**
   * What was last known of one host, or null when nothing was ever recorded of it (its first start: a new
   * database, or a host new to this one).
   */
  loadKnown(hostId: number): { domains: DomainRecord[]; networks: NetworkRecord[] } | null {
    const rows = this.store.known(hostId);
    if (rows.length === 0 && !this.store.hasEventsOf(hostId)) return null;
    return {
      domains: rows.filter((r) => r.kind === 'DOMAIN').map((r) => r.snapshot as DomainRecord),
      networks: rows.filter((r) => r.kind === 'NETWORK').map((r) => r.snapshot as NetworkRecord),
    };
  }

  /**
   * The log's secret and the newest event from before it existed, made on first use (with this database, or on
   * the first start after an upgrade, when the events so far were handed out with cursors of the older form).
   */
  identity(): { key: Buffer; legacyThrough: number } {
    const row = this.store.identity();
    return { key: Buffer.from(row.secret, 'hex'), legacyThrough: row.legacyThrough };
  }

  /** When the event with this row id happened (epoch ms), or null when there is none (pruned, or never). */
  atOf(id: number): number | null {
    return this.store.atOf(id)?.getTime() ?? null;
  }

  /** The newest cursor ever issued (0 before the first event). */
  lastId(): number {
    return this.store.lastId();
  }

  /** Every event with an id ≤ this has been pruned: a cursor below it cannot be resumed from. */
  prunedThrough(): number {
    const oldest = this.store.oldestId();
    return oldest !== null ? oldest - 1 : this.lastId();
  }

  /** Whether a client may resume after `cursor` without missing anything. */
  canResumeAfter(cursor: number): boolean {
    return cursor >= this.prunedThrough() && cursor <= this.lastId();
  }

  /** Up to `limit` events after `after` that match the filter, oldest first. */
  read(after: number, filter: LogFilter, limit: number): Row[] {
    return this.store.read(after, filter, limit);
  }

  /** How many events match the filter (all of them without one). */
  count(filter?: LogFilter): number {
    return this.store.count(filter);
  }

  static toDomainEvent(r: Row): DomainLifecycleEvent {
    // The row names the host even where its snapshot does not (logged before records said their host).
    const domain = r.snapshot as DomainRecord;
    domain.hostId = r.hostId;
    return {
      seq: r.id,
      hostId: r.hostId,
      type: r.type as DomainLifecycleEvent['type'],
      detail: r.detail,
      at: r.at,
      domain,
      ownerId: r.ownerId,
      synthetic: r.synthetic,
    };
  }

  static toHostEvent(r: Row): HostLifecycleEvent {
    return {
      seq: r.id,
      type: r.type as HostLifecycleEvent['type'],
      detail: r.detail as HostLifecycleEvent['detail'],
      at: r.at,
      host: r.snapshot as HostSnapshot,
      synthetic: r.synthetic,
    };
  }

  static toNetworkEvent(r: Row): NetworkLifecycleEvent {
    const network = r.snapshot as NetworkRecord;
    network.hostId = r.hostId;
    return {
      seq: r.id,
      hostId: r.hostId,
      type: r.type as NetworkLifecycleEvent['type'],
      at: r.at,
      network,
      synthetic: r.synthetic,
    };
  }

  /** Registers a subscriber's position; pruning never removes an event after the lowest held cursor. */
  hold(cursor: number): CursorHold {
    const hold: CursorHold = { cursor, release: () => this.holds.delete(hold) };
    this.holds.add(hold);
    return hold;
  }

  /**
   * Deletes events beyond the retention limits, but never one newer than the oldest cursor a connected
   * subscriber holds. Always deletes a prefix of ids, so the ids left stay one contiguous range and
   * `prunedThrough` stays exact. Returns how many were deleted.
   */
  prune(retention: Retention, now = Date.now()): number {
    let through = 0;
    if (retention.maxCount > 0) through = Math.max(through, this.lastId() - retention.maxCount);
    if (retention.maxAgeMs > 0) {
      through = Math.max(through, this.store.newestBefore(new Date(now - retention.maxAgeMs)) ?? 0);
    }
    for (const h of this.holds) through = Math.min(through, h.cursor);
    if (through <= this.prunedThrough()) return 0;
    return this.store.deleteThrough(through);
  }
}
