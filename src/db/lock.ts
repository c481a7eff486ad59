import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const LOCK_FILE = 'virtplane.lock';
const PID_FILE = 'virtplane.pid';

/** Another server holds the data directory. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number | null,
  ) {
    super(
      `the data directory ${dataDir} is in use by another virtplane${ownerPid ? ` (PID ${ownerPid})` : ''}; stop it first, or set VIRTPLANE_DATA_DIR to another directory`,
    );
    this.name = 'DataDirInUseError';
  }
}

export interface DataDirLock {
  release(): void;
}

/**
 * One server per data directory. The lock is SQLite's own exclusive lock (a POSIX record lock, taken by
 * `BEGIN EXCLUSIVE` on an empty database file and held for the server's life): the kernel drops it when the
 * process ends however it ends, so a crash leaves no stale lock and a reused PID cannot fake an owner; SQLite
 * also keeps two connections of one process apart (two servers in one test process). The owner's PID is
 * written beside it only to name it in the refusal.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
  try {
    // Page 1 is written once, on the first start: on an empty file BEGIN EXCLUSIVE itself needs to write, and
    // a start on a full disk must still be able to lock (then serve reads).
    if (db.pragma('user_version', { simple: true }) === 0) db.pragma('user_version = 1');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    let owner: number | null = null;
    try {
      owner = Number(readFileSync(join(dataDir, PID_FILE), 'utf8').trim()) || null;
    } catch {
      /* not written yet, or gone */
    }
    throw new DataDirInUseError(dataDir, owner);
  }
  try {
    writeFileSync(join(dataDir, PID_FILE), `${process.pid}\n`);
  } catch {
    /* only names the owner in a refusal; a full disk must not stop the start here */
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      rmSync(join(dataDir, PID_FILE), { force: true });
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
