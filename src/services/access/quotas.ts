import type { Db } from '../../db/index.js';
import { TenantStore } from '../../db/stores/tenants.js';
import { transaction, type Transaction } from '../../db/transaction.js';
import type { AccessPolicy } from './authorization.js';
import { NotFoundError, QuotaExceededError, ValidationError, type QuotaResource } from '../errors.js';
import type { Viewer } from './viewer.js';

/** What one domain holds against its owner's quota. */
export interface Resources {
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  interfaces: number;
}

/** Limits per user; null means unlimited (admins without a quota row). */
export interface QuotaLimits {
  maxDomains: number | null;
  maxVcpus: number | null;
  maxMemoryMiB: number | null;
  maxDiskGiB: number | null;
  maxInterfaces: number | null;
  maxPortForwards: number | null;
}

export interface QuotaUsage {
  domains: number;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  interfaces: number;
  /** Port forwards on the domains the user owns now (they move with a domain given to someone else). */
  portForwards: number;
}

/** New limits; `maxPortForwards` omitted keeps the current one (0 for a user without a quota yet). */
export type QuotaInput = { [K in Exclude<keyof QuotaLimits, 'maxPortForwards'>]: number } & { maxPortForwards?: number | null };

const ZERO: { [K in keyof QuotaLimits]: number } = {
  maxDomains: 0,
  maxVcpus: 0,
  maxMemoryMiB: 0,
  maxDiskGiB: 0,
  maxInterfaces: 0,
  maxPortForwards: 0,
};
const UNLIMITED: QuotaLimits = {
  maxDomains: null,
  maxVcpus: null,
  maxMemoryMiB: null,
  maxDiskGiB: null,
  maxInterfaces: null,
  maxPortForwards: null,
};

/** Check order and the names a QuotaExceededError reports, for what a domain holds. */
const CHECKS: [
  QuotaResource,
  Exclude<keyof QuotaLimits, 'maxPortForwards'>,
  Exclude<keyof QuotaUsage, 'portForwards'>,
  (r: Resources) => number,
][] = [
  ['DOMAINS', 'maxDomains', 'domains', () => 1],
  ['VCPUS', 'maxVcpus', 'vcpus', (r) => r.vcpus],
  ['MEMORY_MIB', 'maxMemoryMiB', 'memoryMiB', (r) => r.memoryMiB],
  ['DISK_GIB', 'maxDiskGiB', 'diskGiB', (r) => r.diskGiB],
  ['INTERFACES', 'maxInterfaces', 'interfaces', (r) => r.interfaces],
];

/** An open transaction (db/transaction.ts): what the callers' writes of one operation share. */
type Tx = Transaction;

/**
 * Throws QuotaExceededError for the first resource (in CHECKS order) whose `adding` would take the user past
 * its limit; adding nothing is always allowed, even to a user already over a lowered limit.
 */
function checkRoom(
  limits: QuotaLimits,
  used: Omit<QuotaUsage, 'portForwards'>,
  adding: (amount: (r: Resources) => number) => number,
): void {
  for (const [resource, limitKey, usageKey, amount] of CHECKS) {
    const limit = limits[limitKey];
    const more = adding(amount);
    if (limit !== null && more > 0 && used[usageKey] + more > limit) throw new QuotaExceededError(resource, limit, used[usageKey], more);
  }
}

/**
 * Quotas and reservations. `reserve` checks and records in ONE synchronous better-sqlite3 transaction, so no
 * other request of this process can interleave between reading the totals and inserting the reservation;
 * `BEGIN IMMEDIATE` also serialises against other writers of the same database file.
 */
export class QuotaService {
  private readonly store: TenantStore;

  constructor(
    private readonly db: Db,
    private readonly access: AccessPolicy,
  ) {
    this.store = new TenantStore(db);
  }

  limits(userId: string): QuotaLimits {
    const role = this.store.roleOf(userId);
    if (!role) throw new NotFoundError('user', userId);
    const row = this.store.quotaOf(userId);
    if (row) {
      const { maxDomains, maxVcpus, maxMemoryMiB, maxDiskGiB, maxInterfaces, maxPortForwards } = row;
      return { maxDomains, maxVcpus, maxMemoryMiB, maxDiskGiB, maxInterfaces, maxPortForwards };
    }
    return role === 'ADMIN' ? UNLIMITED : ZERO;
  }

  usage(userId: string): QuotaUsage {
    return { ...this.reserved(userId), portForwards: this.store.portForwardsOwnedBy(userId) };
  }

  /** What the user's domains hold: all `reserve` and `resize` check (port forwards are counted apart). */
  private reserved(userId: string): Omit<QuotaUsage, 'portForwards'> {
    return this.store.reservedBy(userId);
  }

  /**
   * Throws QuotaExceededError when `userId` may not hold `adding` more port forwards. Call inside the
   * transaction (`transaction`) that inserts them, so no concurrent request slips between check and insert.
   */
  checkPortForwards(userId: string, adding: number, _tx: Tx): void {
    const limit = this.limits(userId).maxPortForwards;
    const used = this.store.portForwardsOwnedBy(userId);
    if (limit !== null && used + adding > limit) throw new QuotaExceededError('PORT_FORWARDS', limit, used, adding);
  }

  /** Admins: sets a user's limits. */
  set(viewer: Viewer, userId: string, input: QuotaInput): QuotaLimits {
    this.access.requireAdmin(viewer);
    for (const [key, value] of Object.entries(input)) {
      if (key === 'maxPortForwards' && value == null) continue;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1)
        throw new ValidationError(`${key} must be a non-negative integer`, key);
    }
    return transaction(this.db, () => {
      this.limits(userId); // NOT_FOUND for an unknown user
      const { maxPortForwards, ...rest } = input;
      this.store.setQuota(userId, { ...rest, ...(maxPortForwards == null ? {} : { maxPortForwards }), updatedAt: new Date() });
      return this.limits(userId);
    });
  }

  /**
   * Holds `resources` plus one domain slot for `domainUuid`, or throws QuotaExceededError (changing nothing).
   * Call before libvirt; `release` when the domain is deleted or its creation failed.
   */
  reserve(userId: string, domainUuid: string, resources: Resources): void {
    transaction(this.db, () => {
      checkRoom(this.limits(userId), this.reserved(userId), (amount) => amount(resources));
      this.store.reserve(userId, domainUuid, resources);
    });
  }

  /**
   * Changes what an existing reservation holds (resizing a domain), checking only growth against the limits, in
   * one transaction. Returns what it held before (to put back with `restore`), or null when the domain has no
   * reservation (nothing is counted for it).
   */
  resize(domainUuid: string, resources: Resources): Resources | null {
    return transaction(this.db, () => {
      const row = this.store.reservation(domainUuid);
      if (!row) return null;
      const before: Resources = { vcpus: row.vcpus, memoryMiB: row.memoryMiB, diskGiB: row.diskGiB, interfaces: row.interfaces };
      // Only growth counts: a domain that shrinks or keeps its size fits whatever the limits are now.
      checkRoom(this.limits(row.userId), this.reserved(row.userId), (amount) => amount(resources) - amount(before));
      this.store.updateReservation(domainUuid, resources);
      return before;
    });
  }

  /** Puts back what `resize` replaced (its follow-up in libvirt failed). */
  restore(domainUuid: string, resources: Resources): void {
    this.store.updateReservation(domainUuid, resources);
  }

  release(domainUuid: string): void {
    this.store.release(domainUuid);
  }

  /**
   * The vCPUs and memory the reservations on a host hold, by domain: its creates under way included, and the
   * one being placed (for placement).
   */
  reservationSizes(hostId: number): { domainUuid: string; vcpus: number; memoryMiB: number }[] {
    return this.store.reservationSizes(hostId);
  }

  /** Records the host placement chose for a reservation; inside the create's transaction, after `reserve`. */
  placed(domainUuid: string, hostId: number, _tx: Tx): void {
    this.store.placeReservation(domainUuid, hostId);
  }

  /**
   * Records (or moves) an already existing domain's resources, on its host, to a user, without a limit check
   * (admin adoption).
   */
  adopt(userId: string, domainUuid: string, resources: Resources, hostId: number, _tx?: Tx): void {
    this.store.adopt(userId, domainUuid, resources, hostId);
  }

  /** The domains whose reservation is on a host other than `hostId`. */
  placedElsewhere(hostId: number): Set<string> {
    return this.store.placedElsewhere(hostId);
  }

  /**
   * The reservations on `hostId` whose domain that host's libvirt does not have (creation interrupted, or
   * undefined behind our back), dropped; another host's are not this host's to judge.
   */
  dropMissing(hostId: number, existing: ReadonlySet<string>): string[] {
    return this.store.dropReservationsExcept(hostId, existing);
  }

  has(domainUuid: string): boolean {
    return this.store.hasReservation(domainUuid);
  }

  /** For callers composing a larger transaction (e.g. a reservation and the domain's ownership in one step). */
  transaction<T>(fn: (tx: Tx) => T): T {
    return transaction(this.db, fn);
  }
}

export type { Tx };
