import type { Db } from '../index.js';
import { reservations } from '../schema.js';

/** Quotas, reservations, domain owners and the audit log (tables/tenants.ts). */
export class TenantStore {
  constructor(private readonly db: Db) {}

  /** UUIDs of the domains holding a quota reservation: the domains virtplane created and still counts. */
  reservedDomains(): Set<string> {
    return new Set(this.db.select({ uuid: reservations.domainUuid }).from(reservations).all().map((r) => r.uuid));
  }
}
