import { eq, sql } from 'drizzle-orm';
import type { Db } from '../index.js';
import { ipAllocations, macLeases, networkSettings, portForwards } from '../schema.js';

export type ForwardRow = typeof portForwards.$inferSelect;
export type NetworkSettingsRow = typeof networkSettings.$inferSelect;

/** virtplane's own settings of libvirt networks (network_settings). */
export class NetworkSettingsStore {
  /** Read for every network shown: prepared once. */
  private readonly settingsOf;

  constructor(private readonly db: Db) {
    this.settingsOf = db
      .select()
      .from(networkSettings)
      .where(eq(networkSettings.networkUuid, sql.placeholder('networkUuid')))
      .prepare();
  }

  of(networkUuid: string): NetworkSettingsRow | undefined {
    return this.settingsOf.get({ networkUuid });
  }

  /** UUIDs of the networks whose NAT virtplane runs. */
  managedNat(): string[] {
    return this.db
      .select()
      .from(networkSettings)
      .where(eq(networkSettings.managedNat, true))
      .all()
      .map((r) => r.networkUuid);
  }

  set(networkUuid: string, set: { managedNat?: boolean; antiSpoofing?: boolean }): void {
    this.db
      .insert(networkSettings)
      .values({ networkUuid, ...set })
      .onConflictDoUpdate({ target: networkSettings.networkUuid, set })
      .run();
  }

  /** Forgets a network's settings; answers what they were. */
  forget(networkUuid: string): NetworkSettingsRow | undefined {
    return this.db.delete(networkSettings).where(eq(networkSettings.networkUuid, networkUuid)).returning().get();
  }

  /** How many addresses are allocated in a network (ip_allocations). */
  allocationsIn(networkUuid: string): number {
    return this.db.select({ mac: ipAllocations.mac }).from(ipAllocations).where(eq(ipAllocations.networkUuid, networkUuid)).all().length;
  }
}

/** Port forwards (port_forwards, tables/networks.ts). */
export class PortForwardStore {
  /** Every domain deletion runs these (most domains have no forwards): prepared once. */
  private readonly ofDomain;
  private readonly deleteOfDomain;

  constructor(private readonly db: Db) {
    this.ofDomain = db
      .select()
      .from(portForwards)
      .where(eq(portForwards.domainUuid, sql.placeholder('domainUuid')))
      .prepare();
    this.deleteOfDomain = db
      .delete(portForwards)
      .where(eq(portForwards.domainUuid, sql.placeholder('domainUuid')))
      .prepare();
  }

  all(): ForwardRow[] {
    return this.db.select().from(portForwards).all();
  }

  byId(id: string): ForwardRow | undefined {
    return this.db.select().from(portForwards).where(eq(portForwards.id, id)).get();
  }

  insert(row: Omit<ForwardRow, 'createdAt'>): void {
    this.db.insert(portForwards).values(row).run();
  }

  delete(id: string): void {
    this.db.delete(portForwards).where(eq(portForwards.id, id)).run();
  }

  hasForDomain(domainUuid: string): boolean {
    return this.ofDomain.all({ domainUuid }).length > 0;
  }

  deleteForDomain(domainUuid: string): void {
    this.deleteOfDomain.run({ domainUuid });
  }
}

export type AllocationRow = typeof ipAllocations.$inferSelect;

/**
 * The statements every create and delete runs, prepared once. They are prepared on the one connection a
 * better-sqlite3 transaction runs on, so inside a transaction they take part in it.
 */
function prepareAddressStatements(db: Db) {
  const mac = sql.placeholder('mac');
  const domainUuid = sql.placeholder('domainUuid');
  const p = (name: string) => sql.placeholder(name);
  return {
    macLease: db.select({ mac: macLeases.mac }).from(macLeases).where(eq(macLeases.mac, mac)).prepare(),
    insertMacLease: db.insert(macLeases).values({ mac, domainUuid }).prepare(),
    allocationByMac: db.select().from(ipAllocations).where(eq(ipAllocations.mac, mac)).prepare(),
    allocationsOnNetwork: db
      .select()
      .from(ipAllocations)
      .where(eq(ipAllocations.networkUuid, p('networkUuid')))
      .prepare(),
    allocationsOfDomain: db.select().from(ipAllocations).where(eq(ipAllocations.domainUuid, domainUuid)).prepare(),
    insertAllocation: db
      .insert(ipAllocations)
      .values({ mac, networkUuid: p('networkUuid'), domainUuid, ipv4: p('ipv4'), ipv6: p('ipv6') })
      .prepare(),
    deleteAllocationsOfDomain: db.delete(ipAllocations).where(eq(ipAllocations.domainUuid, domainUuid)).prepare(),
    deleteMacLeasesOfDomain: db.delete(macLeases).where(eq(macLeases.domainUuid, domainUuid)).prepare(),
    macLeasesOfDomain: db.select({ mac: macLeases.mac }).from(macLeases).where(eq(macLeases.domainUuid, domainUuid)).prepare(),
  };
}

/** MAC leases and address allocations (mac_leases, ip_allocations). */
export class AddressStore {
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = prepareAddressStatements(db);
  }

  macLeased(mac: string): boolean {
    return !!this.q.macLease.get({ mac });
  }

  leaseMac(mac: string, domainUuid: string): void {
    this.q.insertMacLease.run({ mac, domainUuid });
  }

  allocationByMac(mac: string): AllocationRow | undefined {
    return this.q.allocationByMac.get({ mac });
  }

  allocationsOn(networkUuid: string): AllocationRow[] {
    return this.q.allocationsOnNetwork.all({ networkUuid });
  }

  allocationsOf(domainUuid: string): AllocationRow[] {
    return this.q.allocationsOfDomain.all({ domainUuid });
  }

  allAllocations(): AllocationRow[] {
    return this.db.select().from(ipAllocations).all();
  }

  insertAllocation(row: { mac: string; networkUuid: string; domainUuid: string; ipv4: string | null; ipv6: string | null }): void {
    this.q.insertAllocation.run(row);
  }

  /** Deletes a domain's allocations and MAC leases. */
  forgetDomain(domainUuid: string): void {
    this.q.deleteAllocationsOfDomain.run({ domainUuid });
    this.q.deleteMacLeasesOfDomain.run({ domainUuid });
  }

  hasMacLeases(domainUuid: string): boolean {
    return this.q.macLeasesOfDomain.all({ domainUuid }).length > 0;
  }

  /** Domains holding a MAC lease or an address. */
  leaseholders(): Set<string> {
    const out = new Set<string>();
    for (const r of this.db.select({ d: macLeases.domainUuid }).from(macLeases).all()) out.add(r.d);
    for (const r of this.db.select({ d: ipAllocations.domainUuid }).from(ipAllocations).all()) out.add(r.d);
    return out;
  }
}
