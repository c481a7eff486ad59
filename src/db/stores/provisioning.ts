import type { Db } from '../index.js';
import { keptVolumes } from '../schema.js';

/** Deletions under way and the volumes deletes kept (tables/provisioning.ts). */
export class ProvisioningStore {
  constructor(private readonly db: Db) {}

  /** Volumes a delete kept (`keepDisk`), as `<pool>/<volume>`. */
  keptVolumes(): Set<string> {
    return new Set(this.db.select({ pool: keptVolumes.pool, volume: keptVolumes.volume }).from(keptVolumes).all().map((k) => `${k.pool}/${k.volume}`));
  }
}
