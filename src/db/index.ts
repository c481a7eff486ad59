import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { WalFlusher, type Datasync } from './durability.js';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema> & {
  $client: Database.Database;
  /** Resolves once every transaction committed so far is on disk (see WalFlusher). */
  $flush: () => Promise<void>;
  /** Closes the database. */
  $close: () => void;
};

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

export interface DatabaseOptions {
  /** How the WAL is synced (tests hold or fail it); fs.fdatasync by default. */
  datasync?: Datasync;
  /** Hears of the first failed sync, after which every `$flush` rejects. */
  onSyncFailure?: (err: Error) => void;
}

/** Opens (creating if needed) the SQLite database and applies pending migrations before anything reads it. */
export function openDatabase(file: string, opts: DatabaseOptions = {}): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  // Commits do not fsync; durability is asked for where it matters, with $flush (src/db/durability.ts).
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: MIGRATIONS });
  const flusher = new WalFlusher(file === ':memory:' ? null : `${file}-wal`, opts.datasync, opts.onSyncFailure);
  return Object.assign(db, {
    $flush: () => flusher.flush(),
    $close: () => {
      flusher.close();
      sqlite.close();
    },
  }) as Db;
}
