import { and, asc, count, eq, gt, inArray, lt, lte, max, min, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/index.js';
import { eventLogIdentity, events, knownObjects } from '../../db/schema.js';
import type { DomainLifecycleEvent, DomainRecord, NetworkLifecycleEvent, NetworkRecord, NewDomainEvent, NewNetworkEvent } from '../../model/index.js';

export interface Retention {
  /** Keep at most this many events (0 = no limit). */
  maxCount: number;
  /** Drop events older than this (0 = no limit). */
  maxAgeMs: number;
}

export interface LogFilter {
  kind: 'DOMAIN' | 'NETWORK';
  subjectUuid?: string | null;
  types?: readonly string[] | null;
  ownerId?: string | null;
}

type Row = typeof events.$inferSelect;

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

  constructor(private readonly db: Db) {
    this.appendTx = EventLog.prepareAppend(db);
  }

  appendDomain(e: NewDomainEvent, ownerId: string | null): DomainLifecycleEvent {
    const seq = this.append('DOMAIN', e.domain.uuid, e.domain.name, ownerId, e.type, e.detail, e.domain.state, e.at, e.synthetic, e.domain, e.type === 'UNDEFINED');
    return { ...e, seq, ownerId };
  }

  appendNetwork(e: NewNetworkEvent): NetworkLifecycleEvent {
    const state = e.network.active ? 'ACTIVE' : 'INACTIVE';
    const seq = this.append('NETWORK', e.network.uuid, e.network.name, null, e.type, '', state, e.at, e.synthetic, e.network, e.type === 'UNDEFINED');
    return { ...e, seq };
  }

  /**
   * The hot path of every event: statements prepared once (better-sqlite3), the snapshot serialised once, the
   * event row and `known_objects` in one transaction. Values are encoded as drizzle encodes these columns
   * (timestamp_ms → epoch ms, boolean → 0/1, json → JSON text), so drizzle reads them back unchanged.
   */
  private append(
    kind: 'DOMAIN' | 'NETWORK',
    uuid: string,
    name: string,
    ownerId: string | null,
    type: string,
    detail: string,
    state: string,
    at: Date,
    synthetic: boolean,
    snapshot: DomainRecord | NetworkRecord,
    gone: boolean,
  ): number {
    const json = JSON.stringify(snapshot);
    return this.appendTx(kind, uuid, name, ownerId, type, detail, state, at.getTime(), synthetic ? 1 : 0, json, gone);
  }

  private readonly appendTx: (kind: string, uuid: string, name: string, ownerId: string | null, type: string, detail: string, state: string, at: number, synthetic: number, json: string, gone: boolean) => number;

  private static prepareAppend(db: Db) {
    const client = db.$client;
    const insert = client.prepare(
      'INSERT INTO events (kind, subject_uuid, subject_name, owner_id, type, detail, state, at, synthetic, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
    );
    const forget = client.prepare('DELETE FROM known_objects WHERE uuid = ?');
    const upsert = client.prepare(
      'INSERT INTO known_objects (uuid, kind, snapshot, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET snapshot = excluded.snapshot, updated_at = excluded.updated_at',
    );
    return client.transaction(
      (kind: string, uuid: string, name: string, ownerId: string | null, type: string, detail: string, state: string, at: number, synthetic: number, json: string, gone: boolean): number => {
        const row = insert.get(kind, uuid, name, ownerId, type, detail, state, at, synthetic, json) as { id: number };
        if (gone) forget.run(uuid);
        else upsert.run(uuid, kind, json, Date.now());
        return row.id;
      },
    );
  }

  private remember(db: Db, kind: 'DOMAIN' | 'NETWORK', uuid: string, record: DomainRecord | NetworkRecord): void {
    const now = new Date();
    db.insert(knownObjects)
      .values({ uuid, kind, snapshot: record, updatedAt: now })
      .onConflictDoUpdate({ target: knownObjects.uuid, set: { snapshot: record, updatedAt: now } })
      .run();
  }

  /** Replaces the known state as a whole (after a full load of libvirt). */
  saveKnown(domains: Iterable<DomainRecord>, networks: Iterable<NetworkRecord>): void {
    this.db.transaction((tx) => {
      tx.delete(knownObjects).run();
      for (const d of domains) this.remember(tx as unknown as Db, 'DOMAIN', d.uuid, d);
      for (const n of networks) this.remember(tx as unknown as Db, 'NETWORK', n.uuid, n);
    });
  }

  /** The last known state, or null when nothing was ever recorded (a first start). */
  loadKnown(): { domains: DomainRecord[]; networks: NetworkRecord[] } | null {
    const rows = this.db.select().from(knownObjects).all();
    if (rows.length === 0 && this.lastId() === 0) return null;
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
    this.db.$client
      .prepare(
        `INSERT OR IGNORE INTO event_log_identity (id, secret, legacy_through)
         VALUES (1, lower(hex(randomblob(32))), COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))`,
      )
      .run();
    const row = this.db.select().from(eventLogIdentity).get()!;
    return { key: Buffer.from(row.secret, 'hex'), legacyThrough: row.legacyThrough };
  }

  /** When the event with this row id happened (epoch ms), or null when there is none (pruned, or never). */
  atOf(id: number): number | null {
    const row = this.db.select({ at: events.at }).from(events).where(eq(events.id, id)).get();
    return row ? row.at.getTime() : null;
  }

  /** The newest cursor ever issued (0 before the first event). */
  lastId(): number {
    const row = this.db.$client.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  /** Every event with an id ≤ this has been pruned: a cursor below it cannot be resumed from. */
  prunedThrough(): number {
    const [row] = this.db.select({ oldest: min(events.id) }).from(events).all();
    return row?.oldest != null ? row.oldest - 1 : this.lastId();
  }

  /** Whether a client may resume after `cursor` without missing anything. */
  canResumeAfter(cursor: number): boolean {
    return cursor >= this.prunedThrough() && cursor <= this.lastId();
  }

  /** Up to `limit` events after `after` that match the filter, oldest first. */
  read(after: number, filter: LogFilter, limit: number): Row[] {
    return this.db.select().from(events).where(and(gt(events.id, after), ...EventLog.matching(filter))).orderBy(asc(events.id)).limit(limit).all();
  }

  /** How many events match the filter (all of them without one). */
  count(filter?: LogFilter): number {
    return this.db.select({ n: count() }).from(events).where(filter && and(...EventLog.matching(filter))).all()[0]!.n;
  }

  /**
   * The filter as SQL conditions. '' (a malformed or foreign ID, or a tenant asking for another owner's events)
   * matches nothing, as it must; only null or undefined leaves a condition out.
   */
  private static matching(filter: LogFilter): SQL[] {
    const where = [eq(events.kind, filter.kind)];
    if (filter.subjectUuid != null) where.push(eq(events.subjectUuid, filter.subjectUuid));
    if (filter.types?.length) where.push(inArray(events.type, [...filter.types]));
    if (filter.ownerId != null) where.push(eq(events.ownerId, filter.ownerId));
    return where;
  }

  static toDomainEvent(r: Row): DomainLifecycleEvent {
    return {
      seq: r.id,
      type: r.type as DomainLifecycleEvent['type'],
      detail: r.detail,
      at: r.at,
      domain: r.snapshot as DomainRecord,
      ownerId: r.ownerId,
      synthetic: r.synthetic,
    };
  }

  static toNetworkEvent(r: Row): NetworkLifecycleEvent {
    return { seq: r.id, type: r.type as NetworkLifecycleEvent['type'], at: r.at, network: r.snapshot as NetworkRecord, synthetic: r.synthetic };
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
      const [row] = this.db.select({ id: max(events.id) }).from(events).where(lt(events.at, new Date(now - retention.maxAgeMs))).all();
      through = Math.max(through, row?.id ?? 0);
    }
    for (const h of this.holds) through = Math.min(through, h.cursor);
    if (through <= this.prunedThrough()) return 0;
    return this.db.delete(events).where(lte(events.id, through)).run().changes;
  }
}
