import { eq } from 'drizzle-orm';
import type { Db } from '../db/index.js';
import { domainOwners } from '../db/schema.js';
import type { Tx } from './quotas.js';

/**
 * Domain ownership as recorded in SQLite (domain UUID → user id), mirrored in memory so that filtering a
 * thousand domains per request costs no queries. This process is the only writer; the mirror is updated
 * right after each committed write.
 */
export class OwnershipStore {
  private readonly owners = new Map<string, string>();

  constructor(private readonly db: Db) {
    for (const row of db.select().from(domainOwners).all()) this.owners.set(row.domainUuid, row.userId);
  }

  get(domainUuid: string): string | undefined {
    return this.owners.get(domainUuid);
  }

  domains(): ReadonlySet<string> {
    return new Set(this.owners.keys());
  }

  /** Writes inside the caller's transaction; call `commit` after it committed to update the mirror. */
  write(tx: Tx | Db, domainUuid: string, userId: string): () => void {
    tx.insert(domainOwners)
      .values({ domainUuid, userId, assignedAt: new Date() })
      .onConflictDoUpdate({ target: domainOwners.domainUuid, set: { userId, assignedAt: new Date() } })
      .run();
    return () => this.owners.set(domainUuid, userId);
  }

  remove(tx: Tx | Db, domainUuid: string): () => void {
    tx.delete(domainOwners).where(eq(domainOwners.domainUuid, domainUuid)).run();
    return () => this.owners.delete(domainUuid);
  }
}
