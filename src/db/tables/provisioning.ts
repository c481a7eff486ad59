import { sql } from 'drizzle-orm';
import { integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** A storage volume a domain's deletion removes: pool and volume name, as in the domain's `<source>`. */
export interface VolumeRef {
  pool: string;
  volume: string;
}

/**
 * A deletion in progress. Written before anything is touched and removed in the transaction that releases
 * the domain's quota, so a row left behind (the server stopped half-way) tells start-up reconciliation to
 * finish the job: stop, undefine, delete the volumes, release addresses, quota and ownership.
 */
export const domainDeletions = sqliteTable('domain_deletions', {
  domainUuid: text('domain_uuid').primaryKey(),
  domainName: text('domain_name').notNull(),
  keepDisk: integer('keep_disk', { mode: 'boolean' }).notNull(),
  /** Volumes to delete (or, with keepDisk, to keep), read from the definition before it is undefined. */
  volumes: text('volumes', { mode: 'json' }).$type<VolumeRef[]>().notNull(),
  startedAt: integer('started_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
  /**
   * The domain as it was when its deletion began (a DomainRecord), so that a deletion that failed part-way can
   * be retried, and answered, once libvirt no longer lists the domain. Null in rows from before it was kept.
   */
  domain: text('domain', { mode: 'json' }).$type<object>(),
});

/**
 * Disks kept by `deleteDomain(keepDisk: true)`. They still carry virtplane's volume naming, so reconciliation
 * would take them for orphans of an interrupted create; this list tells it to leave them alone.
 */
export const keptVolumes = sqliteTable(
  'kept_volumes',
  {
    pool: text('pool').notNull(),
    volume: text('volume').notNull(),
    domainUuid: text('domain_uuid').notNull(),
    domainName: text('domain_name').notNull(),
    keptAt: integer('kept_at', { mode: 'timestamp_ms' })
      .notNull()
      .default(sql`(unixepoch() * 1000)`),
  },
  (t) => [primaryKey({ columns: [t.pool, t.volume] })],
);
