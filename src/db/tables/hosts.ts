import { sql } from 'drizzle-orm';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The hypervisor hosts this control plane places guests on. Today one row, made at the first start for the
 * host the server runs beside; its id is what domains, networks and, later, per-host event sequences refer to.
 * A host's state (UP, DOWN) is not stored: it is whether its libvirt answers now. Draining is the operator's.
 * What the host events last announced is kept here too: the log that says it is pruned after its retention.
 */
export const hosts = sqliteTable('hosts', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  /** Set by an admin: no new guest is placed here; those already here keep running. */
  draining: integer('draining', { mode: 'boolean' }).notNull().default(false),
  /** The state (and draining flag) of the last host event announced; null before the first. */
  announcedState: text('announced_state'),
  announcedDraining: integer('announced_draining', { mode: 'boolean' }),
  createdAt: integer('created_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});
