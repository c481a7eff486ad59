import { sql } from 'drizzle-orm';
import { check, index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

const createdAt = () =>
  integer('created_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`);

/** Per-network settings virtplane keeps beside libvirt's definition (keyed by the network's UUID). */
export const networkSettings = sqliteTable('network_settings', {
  networkUuid: text('network_uuid').primaryKey(),
  /** Whether tenant NICs on this network get the clean-traffic nwfilter. */
  antiSpoofing: integer('anti_spoofing', { mode: 'boolean' }).notNull().default(true),
  /**
   * A NAT network virtplane runs itself: libvirt `open` mode (libvirt adds no firewall rules) with the
   * masquerade in virtplane's nftables table, so port forwards can reach its guests.
   */
  managedNat: integer('managed_nat', { mode: 'boolean' }).notNull().default(false),
});

/** Every MAC handed out by the allocator, so none is given twice while its domain exists. */
export const macLeases = sqliteTable(
  'mac_leases',
  {
    mac: text('mac').primaryKey(),
    domainUuid: text('domain_uuid').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('mac_leases_domain_idx').on(t.domainUuid)],
);

/** One NIC's addresses: one IPv4 and one IPv6 per MAC, each unique within its network. */
export const ipAllocations = sqliteTable(
  'ip_allocations',
  {
    mac: text('mac').primaryKey(),
    networkUuid: text('network_uuid').notNull(),
    domainUuid: text('domain_uuid').notNull(),
    ipv4: text('ipv4'),
    ipv6: text('ipv6'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('ip_allocations_ipv4_uq').on(t.networkUuid, t.ipv4),
    uniqueIndex('ip_allocations_ipv6_uq').on(t.networkUuid, t.ipv6),
    index('ip_allocations_domain_idx').on(t.domainUuid),
  ],
);

/** NAT port forwards: host port → the guest's pinned IPv4. Host ports are unique per protocol. */
export const portForwards = sqliteTable(
  'port_forwards',
  {
    id: text('id').primaryKey(),
    /** The forward counts against the quota of this domain's current owner (`domain_owners`). */
    domainUuid: text('domain_uuid').notNull(),
    protocol: text('protocol', { enum: ['TCP', 'UDP'] }).notNull(),
    hostPort: integer('host_port').notNull(),
    guestPort: integer('guest_port').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('port_forwards_host_port_uq').on(t.protocol, t.hostPort),
    index('port_forwards_domain_idx').on(t.domainUuid),
    check('port_forwards_ports_ck', sql`${t.hostPort} between 1 and 65535 and ${t.guestPort} between 1 and 65535`),
  ],
);
