import { and, eq, isNotNull, isNull, ne, or, sql } from 'drizzle-orm';
import type { Db } from '../index.js';
import { domainOwners, portForwards, quotas, reservations, users } from '../schema.js';
import { transaction } from '../transaction.js';

export type QuotaRow = typeof quotas.$inferSelect;
export type ReservationRow = typeof reservations.$inferSelect;
/** What one reservation holds. */
export type Held = Pick<ReservationRow, 'vcpus' | 'memoryMiB' | 'diskGiB' | 'interfaces'>;

/** The reservations on a host, and any not placed yet (only inside a create's transaction, or written by hand). */
const onHostOrUnplaced = (hostId: number | ReturnType<typeof sql.placeholder>) =>
  or(eq(reservations.hostId, hostId), isNull(reservations.hostId));

function prepare(db: Db) {
  const domainUuid = sql.placeholder('domainUuid');
  const userId = sql.placeholder('userId');
  const p = (name: string) => sql.placeholder(name);
  return {
    roleOf: db.select({ role: users.role }).from(users).where(eq(users.id, userId)).prepare(),
    quotaOf: db.select().from(quotas).where(eq(quotas.userId, userId)).prepare(),
    reservedBy: db
      .select({
        domains: sql<number>`count(*)`,
        vcpus: sql<number>`coalesce(sum(${reservations.vcpus}), 0)`,
        memoryMiB: sql<number>`coalesce(sum(${reservations.memoryMiB}), 0)`,
        diskGiB: sql<number>`coalesce(sum(${reservations.diskGiB}), 0)`,
        interfaces: sql<number>`coalesce(sum(${reservations.interfaces}), 0)`,
      })
      .from(reservations)
      .where(eq(reservations.userId, userId))
      .prepare(),
    insert: db
      .insert(reservations)
      .values({ domainUuid, userId, vcpus: p('vcpus'), memoryMiB: p('memoryMiB'), diskGiB: p('diskGiB'), interfaces: p('interfaces') })
      .prepare(),
    release: db.delete(reservations).where(eq(reservations.domainUuid, domainUuid)).prepare(),
    // A host's reservations and the one being placed.
    sizes: db
      .select({ domainUuid: reservations.domainUuid, vcpus: reservations.vcpus, memoryMiB: reservations.memoryMiB })
      .from(reservations)
      .where(onHostOrUnplaced(p('hostId')))
      .prepare(),
    place: db
      .update(reservations)
      .set({ hostId: sql`${p('hostId')}` })
      .where(eq(reservations.domainUuid, domainUuid))
      .prepare(),
  };
}

/** Quotas, reservations, domain owners and the audit log (tables/tenants.ts). */
export class TenantStore {
  /**
   * What every create and delete runs, prepared once. better-sqlite3 runs a transaction on the one connection
   * these are prepared on, so they take part in whatever transaction the caller has open.
   */
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = prepare(db);
  }

  roleOf(userId: string): 'ADMIN' | 'TENANT' | null {
    return this.q.roleOf.get({ userId })?.role ?? null;
  }

  quotaOf(userId: string): QuotaRow | null {
    return this.q.quotaOf.get({ userId }) ?? null;
  }

  /** The number of a user's reservations and the sums of what they hold. */
  reservedBy(userId: string): Held & { domains: number } {
    return this.q.reservedBy.get({ userId }) ?? { domains: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0, interfaces: 0 };
  }

  /** Forwards on the domains `userId` owns now. */
  portForwardsOwnedBy(userId: string): number {
    const row = this.db
      .select({ n: sql<number>`count(*)` })
      .from(portForwards)
      .innerJoin(domainOwners, eq(domainOwners.domainUuid, portForwards.domainUuid))
      .where(eq(domainOwners.userId, userId))
      .get();
    return row?.n ?? 0;
  }

  /** Sets a user's limits (a new row allows no port forwards unless `set` says otherwise). */
  setQuota(userId: string, set: Omit<QuotaRow, 'userId' | 'maxPortForwards'> & { maxPortForwards?: number }): void {
    this.db
      .insert(quotas)
      .values({ userId, maxPortForwards: 0, ...set })
      .onConflictDoUpdate({ target: quotas.userId, set })
      .run();
  }

  reserve(userId: string, domainUuid: string, held: Held): void {
    this.q.insert.run({ domainUuid, userId, ...held });
  }

  reservation(domainUuid: string): ReservationRow | null {
    return this.db.select().from(reservations).where(eq(reservations.domainUuid, domainUuid)).get() ?? null;
  }

  updateReservation(domainUuid: string, held: Held): void {
    this.db.update(reservations).set(held).where(eq(reservations.domainUuid, domainUuid)).run();
  }

  release(domainUuid: string): void {
    this.q.release.run({ domainUuid });
  }

  /** The host a reservation's domain is placed on (in the create's transaction, right after placement). */
  placeReservation(domainUuid: string, hostId: number): void {
    this.q.place.run({ domainUuid, hostId });
  }

  /**
   * Records the reservation of a domain on `hostId` for `userId`, or moves an existing one to `userId` (keeping
   * what it holds).
   */
  adopt(userId: string, domainUuid: string, held: Held, hostId: number): void {
    this.db
      .insert(reservations)
      .values({ domainUuid, userId, hostId, ...held })
      .onConflictDoUpdate({
        target: reservations.domainUuid,
        set: { userId, hostId: sql`coalesce(${reservations.hostId}, excluded.host_id)` },
      })
      .run();
  }

  hasReservation(domainUuid: string): boolean {
    return !!this.db.select({ u: reservations.domainUuid }).from(reservations).where(eq(reservations.domainUuid, domainUuid)).get();
  }

  /**
   * The vCPUs and memory the reservations on `hostId` hold, by domain, and the one a create is placing (what
   * placement counts beside the host's domains).
   */
  reservationSizes(hostId: number): { domainUuid: string; vcpus: number; memoryMiB: number }[] {
    return this.q.sizes.all({ hostId });
  }

  /**
   * Deletes the reservations on `hostId` of domains not in `existing` (that host's), and any never placed (a
   * create's transaction places its reservation before it commits: one without a host was written by hand);
   * answers their UUIDs.
   */
  dropReservationsExcept(hostId: number, existing: ReadonlySet<string>): string[] {
    return transaction(this.db, () => {
      const gone = this.db
        .select({ uuid: reservations.domainUuid })
        .from(reservations)
        .where(onHostOrUnplaced(hostId))
        .all()
        .map((r) => r.uuid)
        .filter((u) => !existing.has(u));
      for (const uuid of gone) this.release(uuid);
      return gone;
    });
  }

  /** UUIDs of the domains whose reservation is placed on a host other than `hostId`. */
  placedElsewhere(hostId: number): Set<string> {
    return new Set(
      this.db
        .select({ uuid: reservations.domainUuid })
        .from(reservations)
        .where(and(isNotNull(reservations.hostId), ne(reservations.hostId, hostId)))
        .all()
        .map((r) => r.uuid),
    );
  }

  /** UUIDs of the domains holding a quota reservation: the domains virtplane created and still counts. */
  reservedDomains(): Set<string> {
    return new Set(
      this.db
        .select({ uuid: reservations.domainUuid })
        .from(reservations)
        .all()
        .map((r) => r.uuid),
    );
  }

  /** How many domains a user owns or is creating (rows of domain_owners and of reservations). */
  domainsHeldBy(userId: string): number {
    return (
      this.db
        .select({ n: sql<number>`count(*)` })
        .from(domainOwners)
        .where(eq(domainOwners.userId, userId))
        .get()!.n +
      this.db
        .select({ n: sql<number>`count(*)` })
        .from(reservations)
        .where(eq(reservations.userId, userId))
        .get()!.n
    );
  }
}
