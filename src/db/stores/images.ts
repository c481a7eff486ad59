import { asc, eq } from 'drizzle-orm';
import type { Db } from '../index.js';
import { images } from '../schema.js';
import { transaction } from '../transaction.js';

export type Image = typeof images.$inferSelect;

/** Published install images (tables/images.ts). */
export class ImageStore {
  constructor(private readonly db: Db) {}

  /** Every image, by name. */
  list(): Image[] {
    return this.db.select().from(images).orderBy(asc(images.name)).all();
  }

  byPath(path: string): Image | null {
    return this.db.select().from(images).where(eq(images.path, path)).get() ?? null;
  }

  byName(name: string): Image | null {
    return this.db.select().from(images).where(eq(images.name, name)).get() ?? null;
  }

  nameTaken(name: string): boolean {
    return !!this.db.select({ id: images.id }).from(images).where(eq(images.name, name)).get();
  }

  /** Inserts `row` unless an image has its name (false then); the check and the insert cannot interleave. */
  insertUnlessNameTaken(row: Image): boolean {
    return transaction(this.db, () => {
      if (this.nameTaken(row.name)) return false;
      this.db.insert(images).values(row).run();
      return true;
    });
  }

  delete(id: string): void {
    this.db.delete(images).where(eq(images.id, id)).run();
  }

  /** Every image, in no particular order. */
  all(): Image[] {
    return this.db.select().from(images).all();
  }
}
