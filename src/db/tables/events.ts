import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The durable event log. `id` is the cursor: AUTOINCREMENT never reuses an id, and rows are only ever pruned
 * from the oldest end, so the ids present always form one contiguous range.
 */
export const events = sqliteTable(
  'events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    kind: text('kind', { enum: ['DOMAIN', 'NETWORK', 'HOST'] }).notNull(),
    /**
     * The host the object lives on (a host event: that host): a UUID names a domain or network only together
     * with it. Rows from before hosts were recorded are the first host's (id 1).
     */
    hostId: integer('host_id').notNull().default(1),
    /** The domain's or network's UUID; a host's id. */
    subjectUuid: text('subject_uuid').notNull(),
    subjectName: text('subject_name').notNull(),
    /** Owner at append time (AccessPolicy.ownerOf); null for networks and unowned domains. */
    ownerId: text('owner_id'),
    type: text('type').notNull(),
    detail: text('detail').notNull(),
    /** The state the object was in right after the event (DomainState, ACTIVE/INACTIVE for networks, HostState). */
    state: text('state').notNull(),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    synthetic: integer('synthetic', { mode: 'boolean' }).notNull(),
    /** The object as it was right after the event (JSON of DomainRecord / NetworkRecord). */
    snapshot: text('snapshot', { mode: 'json' }).notNull(),
  },
  (t) => [
    index('events_subject_idx').on(t.subjectUuid, t.id),
    index('events_owner_idx').on(t.ownerId, t.id),
    index('events_at_idx').on(t.at),
  ],
);

/**
 * The last state the server knew of every domain and network, per host, kept in step with the log (same
 * transaction), so a restarted server can tell what changed while it was down and say so with synthetic
 * events. Keyed by host too: two hosts may have objects of one UUID (the test driver's built-in `test`
 * domain), and one host's reload replaces only its own rows.
 */
export const knownObjects = sqliteTable(
  'known_objects',
  {
    /** Rows from before hosts were recorded are the first host's (id 1). */
    hostId: integer('host_id').notNull().default(1),
    uuid: text('uuid').notNull(),
    kind: text('kind', { enum: ['DOMAIN', 'NETWORK'] }).notNull(),
    snapshot: text('snapshot', { mode: 'json' }).notNull(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' })
      .notNull()
      .default(sql`(unixepoch() * 1000)`),
  },
  (t) => [primaryKey({ columns: [t.hostId, t.uuid] })],
);

/**
 * The event log's identity: one row, made on the first start with this table. `secret` (32 random bytes, hex)
 * seals the cursors this log hands out, so a cursor of another database is told apart; `legacy_through` is
 * the newest event when it was made, the last one a cursor of the older, plain form may name.
 */
export const eventLogIdentity = sqliteTable('event_log_identity', {
  id: integer('id').primaryKey(),
  secret: text('secret').notNull(),
  legacyThrough: integer('legacy_through').notNull(),
});
