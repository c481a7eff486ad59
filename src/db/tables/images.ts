import { sql } from 'drizzle-orm';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** Install media an admin has published: tenants pick one by name for a domain's CD-ROM drive. */
export const images = sqliteTable('images', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  /** Host path of the ISO; it is a volume in a libvirt storage pool (an image pool). */
  path: text('path').notNull(),
  sizeBytes: integer('size_bytes').notNull(),
  /** SHA-256 of the file (hex), computed when it was uploaded through the API; null for addImage. */
  sha256: text('sha256'),
  createdAt: integer('created_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});
