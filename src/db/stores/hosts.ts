import { asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../index.js';
import { hosts } from '../schema.js';
import { transaction } from '../transaction.js';

export interface StoredHost {
  id: number;
  name: string;
  draining: boolean;
  /** What the host events last said of it (null before the first). */
  announced: { state: string; draining: boolean } | null;
}

const stored = (row: typeof hosts.$inferSelect): StoredHost => ({
  id: row.id,
  name: row.name,
  draining: row.draining,
  announced: row.announcedState === null ? null : { state: row.announcedState, draining: row.announcedDraining ?? false },
});

/** The hosts table: which hosts there are, by name, and whether an admin is draining them. */
export class HostStore {
  /** Read by every create's placement: prepared once. */
  private readonly byId;

  constructor(private readonly db: Db) {
    this.byId = db
      .select()
      .from(hosts)
      .where(eq(hosts.id, sql.placeholder('id')))
      .prepare();
  }

  /** The host named `name`, added (not draining) if there is none of that name yet. */
  ensure(name: string): StoredHost {
    return transaction(this.db, () => {
      const found = this.db.select().from(hosts).where(eq(hosts.name, name)).get();
      return stored(found ?? this.db.insert(hosts).values({ name }).returning().get());
    });
  }

  /** The first host recorded (the one the server runs beside), if any. */
  first(): StoredHost | null {
    const row = this.db.select().from(hosts).orderBy(asc(hosts.id)).limit(1).get();
    return row ? stored(row) : null;
  }

  get(id: number): StoredHost | null {
    const row = this.byId.get({ id });
    return row ? stored(row) : null;
  }

  setDraining(id: number, draining: boolean): void {
    this.db.update(hosts).set({ draining }).where(eq(hosts.id, id)).run();
  }

  setAnnounced(id: number, state: string, draining: boolean): void {
    this.db.update(hosts).set({ announcedState: state, announcedDraining: draining }).where(eq(hosts.id, id)).run();
  }
}
