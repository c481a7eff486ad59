import { and, asc, count, desc, eq, gt, inArray, lt, lte, max, min, type SQL } from 'drizzle-orm';
import type { Db } from '../index.js';
import { eventLogIdentity, events, knownObjects } from '../schema.js';
import { transaction } from '../transaction.js';
import { type Metered, UsageStore } from './usage.js';

export type EventRow = typeof events.$inferSelect;
export type ObjectKind = 'DOMAIN' | 'NETWORK' | 'HOST';

export interface EventFilter {
  kind: ObjectKind;
  /** With `subjectUuid`: the subject's host (a UUID names an object only with its host). */
  hostId?: number | null;
  subjectUuid?: string | null;
  types?: readonly string[] | null;
  ownerId?: string | null;
}

/** One event as appended (the row id is given by SQLite). */
export interface NewEventRow {
  kind: ObjectKind;
  /** The host the object is on (a host event: that host). */
  hostId: number;
  uuid: string;
  name: string;
  ownerId: string | null;
  type: string;
  detail: string;
  state: string;
  at: Date;
  synthetic: boolean;
  snapshot: object;
  /** The object is gone with this event: it leaves `known_objects` (hosts are never in it). */
  gone: boolean;
  /** A domain's metering after this event: its usage period follows in the same transaction. */
  usage?: Metered;
}

/**
 * The event log and the last state the server knew (tables/events.ts): `events`, `known_objects` and the
 * log's identity.
 */
export class EventStore {
  private readonly appendTx: (e: NewEventRow) => number;
  private readonly appendAllTx: (rows: readonly NewEventRow[]) => number[];
  private readonly usage: UsageStore;

  constructor(private readonly db: Db) {
    this.usage = new UsageStore(db);
    const append = EventStore.prepareAppend(db, this.usage);
    this.appendTx = db.$client.transaction(append);
    this.appendAllTx = db.$client.transaction((rows: readonly NewEventRow[]) => rows.map(append));
  }

  /**
   * The hot path of every event: statements prepared once (better-sqlite3), the snapshot serialised once, the
   * event row and `known_objects` in one transaction. Values are encoded as drizzle encodes these columns
   * (timestamp_ms → epoch ms, boolean → 0/1, json → JSON text), so drizzle reads them back unchanged.
   * Answers the event's row id.
   */
  append(e: NewEventRow): number {
    return this.appendTx(e);
  }

  /** Appends events that came together, in order, in one transaction (one commit); answers their row ids. */
  appendAll(rows: readonly NewEventRow[]): number[] {
    return this.appendAllTx(rows);
  }

  private static prepareAppend(db: Db, usage: UsageStore): (e: NewEventRow) => number {
    const client = db.$client;
    const insert = client.prepare(
      'INSERT INTO events (kind, host_id, subject_uuid, subject_name, owner_id, type, detail, state, at, synthetic, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
    );
    const forget = client.prepare('DELETE FROM known_objects WHERE host_id = ? AND uuid = ?');
    const upsert = client.prepare(
      'INSERT INTO known_objects (host_id, uuid, kind, snapshot, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (host_id, uuid) DO UPDATE SET snapshot = excluded.snapshot, updated_at = excluded.updated_at',
    );
    return (e: NewEventRow): number => {
      const json = JSON.stringify(e.snapshot);
      const row = insert.get(
        e.kind,
        e.hostId,
        e.uuid,
        e.name,
        e.ownerId,
        e.type,
        e.detail,
        e.state,
        e.at.getTime(),
        e.synthetic ? 1 : 0,
        json,
      ) as {
        id: number;
      };
      // known_objects is the cache's baseline at a restart (domains and networks); a host's last state is its last event.
      if (e.kind === 'HOST') return row.id;
      if (e.usage) usage.record(e.usage, e.at.getTime());
      if (e.gone) forget.run(e.hostId, e.uuid);
      else upsert.run(e.hostId, e.uuid, e.kind, json, Date.now());
      return row.id;
    };
  }

  /**
   * Replaces the known state (of domains and networks) of one host as a whole, and in the same transaction
   * makes the open usage periods of its domains match the domains it has now (`metered`). Other hosts' rows
   * stay: each host's reload speaks only for that host.
   */
  replaceKnown(
    hostId: number,
    objects: Iterable<{ kind: 'DOMAIN' | 'NETWORK'; uuid: string; snapshot: object }>,
    metered: readonly Metered[],
  ): void {
    transaction(this.db, () => {
      this.usage.reconcile(hostId, metered, Date.now());
      this.db.delete(knownObjects).where(eq(knownObjects.hostId, hostId)).run();
      for (const { kind, uuid, snapshot } of objects) {
        const now = new Date();
        this.db
          .insert(knownObjects)
          .values({ hostId, uuid, kind, snapshot, updatedAt: now })
          .onConflictDoUpdate({ target: [knownObjects.hostId, knownObjects.uuid], set: { snapshot, updatedAt: now } })
          .run();
      }
    });
  }

  /** What the server last knew of one host's domains and networks. */
  known(hostId: number): { kind: string; snapshot: unknown }[] {
    return this.db.select().from(knownObjects).where(eq(knownObjects.hostId, hostId)).all();
  }

  /**
   * The log's secret and the newest event from before it existed, made on first use (with this database, or on
   * the first start after an upgrade, when the events so far were handed out with cursors of the older form).
   */
  identity(): { secret: string; legacyThrough: number } {
    this.db.$client
      .prepare(
        `INSERT OR IGNORE INTO event_log_identity (id, secret, legacy_through)
         VALUES (1, lower(hex(randomblob(32))), COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))`,
      )
      .run();
    const row = this.db.select().from(eventLogIdentity).get()!;
    return { secret: row.secret, legacyThrough: row.legacyThrough };
  }

  /** The newest event of one object (a host's last state change), or null when the log has none. */
  latestOf(kind: ObjectKind, subject: string): EventRow | null {
    return (
      this.db
        .select()
        .from(events)
        .where(and(eq(events.kind, kind), eq(events.subjectUuid, subject)))
        .orderBy(desc(events.id))
        .limit(1)
        .get() ?? null
    );
  }

  /** Whether the log holds any event of that host (once per host at a start: no index on it). */
  hasEventsOf(hostId: number): boolean {
    return !!this.db.select({ id: events.id }).from(events).where(eq(events.hostId, hostId)).limit(1).get();
  }

  /** When the event with this row id happened, or null when there is none (pruned, or never). */
  atOf(id: number): Date | null {
    return this.db.select({ at: events.at }).from(events).where(eq(events.id, id)).get()?.at ?? null;
  }

  /** The newest row id ever given (0 before the first event). */
  lastId(): number {
    const row = this.db.$client.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  /** The oldest row id still in the log, or null when it is empty. */
  oldestId(): number | null {
    const [row] = this.db
      .select({ oldest: min(events.id) })
      .from(events)
      .all();
    return row?.oldest ?? null;
  }

  /** The newest row id of an event that happened before `at`, or null. */
  newestBefore(at: Date): number | null {
    const [row] = this.db
      .select({ id: max(events.id) })
      .from(events)
      .where(lt(events.at, at))
      .all();
    return row?.id ?? null;
  }

  /** Up to `limit` events after `after` that match the filter, oldest first. */
  read(after: number, filter: EventFilter, limit: number): EventRow[] {
    return this.db
      .select()
      .from(events)
      .where(and(gt(events.id, after), ...EventStore.matching(filter)))
      .orderBy(asc(events.id))
      .limit(limit)
      .all();
  }

  /** How many events match the filter (all of them without one). */
  count(filter?: EventFilter): number {
    return this.db
      .select({ n: count() })
      .from(events)
      .where(filter && and(...EventStore.matching(filter)))
      .all()[0]!.n;
  }

  /** Deletes every event with an id up to `id`; answers how many. */
  deleteThrough(id: number): number {
    return this.db.delete(events).where(lte(events.id, id)).run().changes;
  }

  /**
   * The filter as SQL conditions. '' (a malformed or foreign ID, or a tenant asking for another owner's events)
   * matches nothing, as it must; only null or undefined leaves a condition out.
   */
  private static matching(filter: EventFilter): SQL[] {
    const where = [eq(events.kind, filter.kind)];
    if (filter.subjectUuid != null) where.push(eq(events.subjectUuid, filter.subjectUuid));
    if (filter.hostId != null) where.push(eq(events.hostId, filter.hostId));
    if (filter.types?.length) where.push(inArray(events.type, [...filter.types]));
    if (filter.ownerId != null) where.push(eq(events.ownerId, filter.ownerId));
    return where;
  }
}
