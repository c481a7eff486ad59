import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * Metering: each row is a stretch of time in which one domain, under one owner, held the same resources. A
 * domain's state change (from its event, in the event's transaction) or a change of owner closes its open row
 * and opens the next. No foreign key to users: what a user used stays on record after the user is gone.
 */
export const usagePeriods = sqliteTable(
  'usage_periods',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** The domain's host: a full load of one host closes only its own domains' periods. Older rows: host 1. */
    hostId: integer('host_id').notNull().default(1),
    domainUuid: text('domain_uuid').notNull(),
    /** The name its owner knows it by (kept current while the period lasts: a rename opens no period). */
    domainName: text('domain_name').notNull(),
    /** null: a domain nobody owns (the operator's own). */
    ownerId: text('owner_id'),
    running: integer('running', { mode: 'boolean' }).notNull(),
    vcpus: integer('vcpus').notNull(),
    memoryMiB: integer('memory_mib').notNull(),
    diskBytes: integer('disk_bytes').notNull(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
    /** null while the period lasts. */
    endedAt: integer('ended_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    // At most one open period per domain (a domain: its host and UUID).
    uniqueIndex('usage_periods_open_idx')
      .on(t.hostId, t.domainUuid)
      .where(sql`${t.endedAt} IS NULL`),
    index('usage_periods_owner_idx').on(t.ownerId, t.startedAt),
    index('usage_periods_ended_idx').on(t.endedAt),
  ],
);
