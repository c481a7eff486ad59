import { eq, sql } from 'drizzle-orm';
import type { Db } from '../index.js';
import { domainDeletions, keptVolumes, type VolumeRef } from '../schema.js';

export type { VolumeRef };
export type DeletionRow = typeof domainDeletions.$inferSelect;

/**
 * The deletion record every delete writes, reads and removes, prepared once. They are prepared on the one
 * connection a better-sqlite3 transaction runs on, so inside a transaction they take part in it.
 */
function prepare(db: Db) {
  const domainUuid = sql.placeholder('domainUuid');
  return {
    insert: db
      .insert(domainDeletions)
      .values({
        domainUuid,
        domainName: sql.placeholder('domainName'),
        keepDisk: sql.placeholder('keepDisk'),
        volumes: sql.placeholder('volumes'),
        domain: sql.placeholder('domain'),
      })
      .onConflictDoNothing()
      .prepare(),
    byDomain: db.select().from(domainDeletions).where(eq(domainDeletions.domainUuid, domainUuid)).prepare(),
    remove: db.delete(domainDeletions).where(eq(domainDeletions.domainUuid, domainUuid)).prepare(),
  };
}

/** Deletions under way and the volumes deletes kept (tables/provisioning.ts). */
export class ProvisioningStore {
  private readonly deletion;

  constructor(private readonly db: Db) {
    this.deletion = prepare(db);
  }

  /** Records a deletion; one recorded before (a retry's first request) is kept as it is. */
  recordDeletion(row: { domainUuid: string; domainName: string; keepDisk: boolean; volumes: VolumeRef[]; domain: object }): void {
    this.deletion.insert.run(row);
  }

  deletionOf(domainUuid: string): DeletionRow | null {
    return this.deletion.byDomain.get({ domainUuid }) ?? null;
  }

  removeDeletion(domainUuid: string): void {
    this.deletion.remove.run({ domainUuid });
  }

  deletions(): DeletionRow[] {
    return this.db.select().from(domainDeletions).all();
  }

  /** Records volumes a delete keeps (`keepDisk`), with the domain they belonged to. */
  keepVolumes(volumes: VolumeRef[], domainUuid: string, domainName: string): void {
    for (const v of volumes)
      this.db
        .insert(keptVolumes)
        .values({ ...v, domainUuid, domainName })
        .onConflictDoNothing()
        .run();
  }

  /** Volumes a delete kept (`keepDisk`), as `<pool>/<volume>`. */
  keptVolumes(): Set<string> {
    return new Set(
      this.db
        .select({ pool: keptVolumes.pool, volume: keptVolumes.volume })
        .from(keptVolumes)
        .all()
        .map((k) => `${k.pool}/${k.volume}`),
    );
  }

  /** Names of the volumes kept in `pool`. */
  keptIn(pool: string): Set<string> {
    return new Set(
      this.db
        .select()
        .from(keptVolumes)
        .where(eq(keptVolumes.pool, pool))
        .all()
        .map((k) => k.volume),
    );
  }

  /** One volume a delete kept in `pool`, or null when none is there. */
  keptInPool(pool: string): { volume: string; domainName: string } | null {
    return (
      this.db
        .select({ volume: keptVolumes.volume, domainName: keptVolumes.domainName })
        .from(keptVolumes)
        .where(eq(keptVolumes.pool, pool))
        .get() ?? null
    );
  }
}
