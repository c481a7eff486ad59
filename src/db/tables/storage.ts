import { sql } from 'drizzle-orm';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * Storage pools virtplane defined (createStoragePool, and the guest-disk pool made at start-up), so that a
 * removal of virtplane takes exactly these and leaves the operator's own. Written before the pool is defined;
 * `uuid` is null until libvirt has answered.
 */
export const definedPools = sqliteTable('defined_pools', {
  name: text('name').primaryKey(),
  uuid: text('uuid'),
  type: text('type').notNull(),
  /** Whether virtplane made the backing store (a directory that did not exist, a volume group it built). */
  builtStorage: integer('built_storage', { mode: 'boolean' }).notNull(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});

/**
 * Uploads whose bytes are being written: the temporary file is removed at start-up when the server stopped
 * while receiving one. A row lives only while its PUT runs.
 */
export const uploadFiles = sqliteTable('upload_files', {
  id: text('id').primaryKey(),
  tempPath: text('temp_path').notNull(),
  startedAt: integer('started_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});
