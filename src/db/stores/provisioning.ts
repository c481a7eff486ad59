import { eq } from 'drizzle-orm';
import type { Db } from '../index.js';
import { keptVolumes } from '../schema.js';

/** Deletions under way and the volumes deletes kept (tables/provisioning.ts). */
export class ProvisioningStore {
  constructor(private readonly db: Db) {}

  /** Volumes a delete kept (`keepDisk`), as `<pool>/<volume>`. */
  keptVolumes(): Set<string> {
    return new Set(this.db.select({ pool: keptVolumes.pool, volume: keptVolumes.volume }).from(keptVolumes).all().map((k) => `${k.pool}/${k.volume}`));
  }

  /** One volume a delete kept in `pool`, or null when none is there. */
  keptInPool(pool: string): { volume: string; domainName: string } | null {
    return this.db.select({ volume: keptVolumes.volume, domainName: keptVolumes.domainName }).from(keptVolumes).where(eq(keptVolumes.pool, pool)).get() ?? null;
  }
}
