import { randomBytes } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/index.js';
import { hostObjects, instanceNames, users } from '../../db/schema.js';

/** Names of host-wide objects (storage pool, nftables table, nwfilters) that belong to this installation. */
export interface InstanceNames {
  instanceId: string;
  storagePool: string;
  nftTable: string;
  /** Every nwfilter of this installation is named `<prefix>…`. */
  nwfilterPrefix: string;
}

/** What installations made before instance ids used, and keep: their pool, table and filters exist under these. */
export const LEGACY_NAMES: Omit<InstanceNames, 'instanceId'> = { storagePool: 'virtplane', nftTable: 'virtplane', nwfilterPrefix: 'virtplane-' };

export type HostObjectKind = 'storage-pool' | 'network';

/** The installation's identity on the host, and the host-wide objects it made. */
export class HostObjects {
  constructor(private readonly db: Db) {}

  /**
   * This installation's names, chosen on its first start and kept in its database. A database that already
   * had users when the names were first asked for is an installation from before instance ids: it keeps the
   * names it has been using.
   */
  names(): InstanceNames {
    return this.db.transaction(
      (tx) => {
        const row = tx.select().from(instanceNames).where(eq(instanceNames.id, 1)).get();
        if (row) return { instanceId: row.instanceId, storagePool: row.storagePool, nftTable: row.nftTable, nwfilterPrefix: row.nwfilterPrefix };
        const instanceId = randomBytes(4).toString('hex');
        const existing = tx.select({ n: sql<number>`count(*)` }).from(users).get()!.n > 0;
        const names: InstanceNames = existing
          ? { instanceId, ...LEGACY_NAMES }
          : { instanceId, storagePool: `virtplane-${instanceId}`, nftTable: `virtplane_${instanceId}`, nwfilterPrefix: `virtplane-${instanceId}-` };
        tx.insert(instanceNames).values({ id: 1, ...names }).run();
        return names;
      },
      { behavior: 'immediate' },
    );
  }

  /** Records that virtplane is about to create `name`; call before the creation, so no object lacks its record. */
  record(kind: HostObjectKind, name: string): void {
    this.db.insert(hostObjects).values({ kind, name }).onConflictDoNothing().run();
  }

  forget(kind: HostObjectKind, name: string): void {
    this.db.delete(hostObjects).where(and(eq(hostObjects.kind, kind), eq(hostObjects.name, name))).run();
  }

  list(kind: HostObjectKind): string[] {
    return this.db.select({ name: hostObjects.name }).from(hostObjects).where(eq(hostObjects.kind, kind)).all().map((r) => r.name);
  }
}
