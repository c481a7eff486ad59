import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { users } from './auth.js';

/** What the operator granted one user. No row: a tenant may use nothing, an admin is unlimited. */
export const quotas = sqliteTable('quotas', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  maxDomains: integer('max_domains').notNull(),
  maxVcpus: integer('max_vcpus').notNull(),
  maxMemoryMiB: integer('max_memory_mib').notNull(),
  maxDiskGiB: integer('max_disk_gib').notNull(),
  maxInterfaces: integer('max_interfaces').notNull(),
  /** NAT port forwards on the user's domains. */
  maxPortForwards: integer('max_port_forwards').notNull().default(0),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});

/**
 * Resources held for one domain, counted against its user's quota. Written in the same transaction that
 * checks the quota, before libvirt is called; deleted when the domain is deleted or its creation failed. A
 * user's usage is the sum of its rows.
 */
export const reservations = sqliteTable(
  'reservations',
  {
    domainUuid: text('domain_uuid').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    /**
     * The host the domain is placed on. Null only inside a create's transaction, between the quota's
     * reservation and placement (which counts it as its own); older rows were placed on the first host (id 1).
     */
    hostId: integer('host_id'),
    vcpus: integer('vcpus').notNull(),
    memoryMiB: integer('memory_mib').notNull(),
    diskGiB: integer('disk_gib').notNull(),
    interfaces: integer('interfaces').notNull(),
    createdAt: integer('created_at', { mode: 'timestamp_ms' })
      .notNull()
      .default(sql`(unixepoch() * 1000)`),
  },
  (t) => [index('reservations_user_idx').on(t.userId), index('reservations_host_idx').on(t.hostId)],
);

/** Who owns which domain. Mirrored into each domain's libvirt `<metadata>`, from which it can be rebuilt. */
export const domainOwners = sqliteTable(
  'domain_owners',
  {
    domainUuid: text('domain_uuid').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    assignedAt: integer('assigned_at', { mode: 'timestamp_ms' })
      .notNull()
      .default(sql`(unixepoch() * 1000)`),
  },
  (t) => [index('domain_owners_user_idx').on(t.userId)],
);

/**
 * One row per mutation: who, what, on which target, with which result. Actor name and id are copied (no
 * foreign key) so the trail outlives deleted users. Never holds tokens, passwords or arguments.
 */
export const auditEvents = sqliteTable(
  'audit_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    actorId: text('actor_id').notNull(),
    actorName: text('actor_name').notNull(),
    tokenId: text('token_id'),
    action: text('action').notNull(),
    target: text('target'),
    result: text('result').notNull(),
    message: text('message'),
  },
  (t) => [index('audit_events_actor_idx').on(t.actorId, t.id), index('audit_events_action_idx').on(t.action, t.id)],
);
