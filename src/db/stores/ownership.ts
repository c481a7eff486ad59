import { eq, sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { Db } from '../index.js';
import { domainOwners } from '../schema.js';
import type { Transaction } from '../transaction.js';
import { UsageStore } from './usage.js';

/**
 * Domain ownership as recorded in SQLite (domain UUID → user id), mirrored in memory so that filtering a
 * thousand domains per request costs no queries. This process is the only writer; the mirror is updated
 * right after each committed write.
 */
export class OwnershipStore {
  private readonly owners = new Map<string, string>();

  /** The writes of every create and delete, prepared once; they join the caller's transaction (same connection). */
  private readonly upsert;
  private readonly delete;
  private readonly usage: UsageStore;

  constructor(db: Db) {
    for (const row of db.select().from(domainOwners).all()) this.owners.set(row.domainUuid, row.userId);
    const domainUuid = sql.placeholder('domainUuid');
    const userId = sql.placeholder('userId');
    // On conflict the row takes the values offered for insert (SQLite's `excluded`): owner and time of assignment.
    const excluded = (column: SQLiteColumn) => sql`excluded.${sql.identifier(column.name)}`;
    this.upsert = db
      .insert(domainOwners)
      .values({ domainUuid, userId, assignedAt: sql.placeholder('assignedAt') })
      .onConflictDoUpdate({
        target: domainOwners.domainUuid,
        set: { userId: excluded(domainOwners.userId), assignedAt: excluded(domainOwners.assignedAt) },
      })
      .prepare();
    this.delete = db.delete(domainOwners).where(eq(domainOwners.domainUuid, domainUuid)).prepare();
    this.usage = new UsageStore(db);
  }

  get(domainUuid: string): string | undefined {
    return this.owners.get(domainUuid);
  }

  domains(): ReadonlySet<string> {
    return new Set(this.owners.keys());
  }

  /**
   * Records `userId` as the owner, in the caller's transaction (with the domain's usage period, see
   * usage.ts); the mirror follows once that has committed.
   */
  write(tx: Transaction, domainUuid: string, userId: string): void {
    const now = new Date();
    this.upsert.run({ domainUuid, userId, assignedAt: now });
    // What the domain uses from now on is the new owner's.
    this.usage.reassign(domainUuid, userId, now.getTime());
    tx.afterCommit(() => this.owners.set(domainUuid, userId));
  }

  remove(tx: Transaction, domainUuid: string): void {
    this.delete.run({ domainUuid });
    tx.afterCommit(() => this.owners.delete(domainUuid));
  }
}
