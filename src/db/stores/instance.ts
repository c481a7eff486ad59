import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../index.js';
import { hostObjects, instanceNames, users } from '../schema.js';
import { transaction } from '../transaction.js';

export interface StoredInstanceNames {
  instanceId: string;
  storagePool: string;
  nftTable: string;
  nwfilterPrefix: string;
}

/** The installation's names (one row) and the host-wide objects it made (instance_names, host_objects). */
export class InstanceStore {
  constructor(private readonly db: Db) {}

  /**
   * The names stored; when there are none yet, those `choose` makes (told whether the database already has
   * users), stored in the same transaction.
   */
  names(choose: (hasUsers: boolean) => StoredInstanceNames): StoredInstanceNames {
    return transaction(this.db, () => {
      const row = this.db.select().from(instanceNames).where(eq(instanceNames.id, 1)).get();
      if (row)
        return { instanceId: row.instanceId, storagePool: row.storagePool, nftTable: row.nftTable, nwfilterPrefix: row.nwfilterPrefix };
      const names = choose(
        this.db
          .select({ n: sql<number>`count(*)` })
          .from(users)
          .get()!.n > 0,
      );
      this.db
        .insert(instanceNames)
        .values({ id: 1, ...names })
        .run();
      return names;
    });
  }

  recordHostObject(kind: string, name: string): void {
    this.db.insert(hostObjects).values({ kind, name }).onConflictDoNothing().run();
  }

  forgetHostObject(kind: string, name: string): void {
    this.db
      .delete(hostObjects)
      .where(and(eq(hostObjects.kind, kind), eq(hostObjects.name, name)))
      .run();
  }

  hostObjects(kind: string): string[] {
    return this.db
      .select({ name: hostObjects.name })
      .from(hostObjects)
      .where(eq(hostObjects.kind, kind))
      .all()
      .map((r) => r.name);
  }
}
