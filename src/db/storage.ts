import { statfsSync } from 'node:fs';

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
