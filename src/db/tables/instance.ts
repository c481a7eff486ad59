import { sql } from 'drizzle-orm';
import { integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The names this installation gives to host-wide objects, chosen at its first start and kept: a storage pool,
 * an nftables table and nwfilters are seen by every program on the host, so two virtplanes (two data dirs)
 * must not share them. One row.
 */
export const instanceNames = sqliteTable('instance_names', {
  /** Always 1: the table holds one row. */
  id: integer('id').primaryKey(),
  instanceId: text('instance_id').notNull(),
  storagePool: text('storage_pool').notNull(),
  nftTable: text('nft_table').notNull(),
  nwfilterPrefix: text('nwfilter_prefix').notNull(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});

/**
 * Host-wide objects virtplane created (kind `storage-pool`, `network`), recorded before it creates them, so
 * that removing virtplane (`npm run remove`) takes exactly these and leaves the operator's own.
 */
export const hostObjects = sqliteTable(
  'host_objects',
  {
    kind: text('kind').notNull(),
    name: text('name').notNull(),
    createdAt: integer('created_at', { mode: 'timestamp_ms' })
      .notNull()
      .default(sql`(unixepoch() * 1000)`),
  },
  (t) => [primaryKey({ columns: [t.kind, t.name] })],
);
