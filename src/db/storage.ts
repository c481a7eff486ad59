import { closeSync, existsSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** SQLite's result codes (and errno names) that mean the disk refused a write, not that the statement was wrong. */
const STORAGE_CODES = /^(SQLITE_FULL|SQLITE_IOERR|SQLITE_READONLY|SQLITE_CANTOPEN|ENOSPC|EDQUOT|EROFS|EIO)/;

/** Whether `err` (from better-sqlite3 or the file system) says the data directory cannot be written. */
export function isStorageFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && STORAGE_CODES.test(code);
}

/** Bytes an unprivileged writer may still use on the file system holding `dir` (Infinity when it cannot be asked). */
export function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return Infinity;
  }
}

const BALLAST_FILE = 'virtplane.ballast';
/** Room for what opening the database needs on a full disk: SQLite's shared-memory index (32 KiB) and a first WAL. */
const BALLAST_BYTES = 1024 * 1024;

/**
 * Keeps a ballast file in the data directory (written in full, not sparse), made when there is room. A start
 * on a full disk deletes it to open the database; it is made again once space returns.
 */
export function keepBallast(dir: string): void {
  const file = join(dir, BALLAST_FILE);
  if (existsSync(file)) return;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'w');
    writeSync(fd, Buffer.alloc(BALLAST_BYTES));
  } catch {
    if (fd !== undefined) closeSync(fd);
    rmSync(file, { force: true }); // no room for all of it: none of it
    return;
  }
  closeSync(fd);
}

/** Deletes the ballast file; false when there was none. */
export function releaseBallast(dir: string): boolean {
  const file = join(dir, BALLAST_FILE);
  if (!existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}
