import { eq } from 'drizzle-orm';
import type { Db } from '../index.js';
import { definedPools, uploadFiles } from '../schema.js';

export type DefinedPool = typeof definedPools.$inferSelect;

/**
 * The storage pools virtplane defined itself. A pool is recorded before it is defined (so no pool of ours is
 * ever in libvirt without its row) and forgotten once it is undefined. Removing virtplane from a host takes
 * exactly the pools listed here (`list()`), and leaves every other pool alone.
 */
export class DefinedPoolStore {
  constructor(private readonly db: Db) {}

  list(): DefinedPool[] {
    return this.db.select().from(definedPools).all();
  }

  get(name: string): DefinedPool | null {
    return this.db.select().from(definedPools).where(eq(definedPools.name, name)).get() ?? null;
  }

  /** Before the define: the pool's name, its type, and whether virtplane makes its backing store. */
  recordIntent(name: string, type: string, builtStorage: boolean): void {
    this.db
      .insert(definedPools)
      .values({ name, type, builtStorage, uuid: null })
      .onConflictDoUpdate({ target: definedPools.name, set: { type, builtStorage, uuid: null } })
      .run();
  }

  /** After the define: the UUID libvirt gave the pool. */
  setUuid(name: string, uuid: string): void {
    this.db.update(definedPools).set({ uuid }).where(eq(definedPools.name, name)).run();
  }

  forget(name: string): void {
    this.db.delete(definedPools).where(eq(definedPools.name, name)).run();
  }
}

/** Temporary files uploads are writing (upload_files): a file a crash left is removed at the next start. */
export class UploadFileStore {
  constructor(private readonly db: Db) {}

  all(): { id: string; tempPath: string }[] {
    return this.db.select({ id: uploadFiles.id, tempPath: uploadFiles.tempPath }).from(uploadFiles).all();
  }

  record(id: string, tempPath: string): void {
    this.db.insert(uploadFiles).values({ id, tempPath }).run();
  }

  forget(id: string): void {
    this.db.delete(uploadFiles).where(eq(uploadFiles.id, id)).run();
  }
}
