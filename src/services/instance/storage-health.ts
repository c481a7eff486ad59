import { freeBytes, isStorageFailure } from '../../db/storage.js';
import { StorageUnavailableError } from '../errors.js';

interface Log {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Backoff of the checks while storage fails: from 250 ms, doubling, to 5 s. */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

/**
 * Whether the data directory can take writes. Two signals: free space below a reserve (checked before every
 * mutation, so nothing is done in libvirt that could not be recorded), and a write that failed (SQLite's
 * SQLITE_FULL, I/O errors). While failing, mutations are refused with STORAGE_UNAVAILABLE and /healthz says
 * why; writes that had to happen anyway (events of changes libvirt made, audit rows) wait in memory with
 * their writers, which `onRetry` asks to try again, with backoff, until they all succeed.
 */
export class StorageHealth {
  private failure: string | null = null;
  private readonly retries: (() => boolean)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;

  constructor(
    private readonly dir: string,
    /** Free bytes below which the data directory counts as full. */
    private readonly reserveBytes: number,
    private readonly log?: Log,
  ) {}

  /** Why writes cannot be taken now, or null when they can. */
  reason(): string | null {
    const free = freeBytes(this.dir);
    if (free < this.reserveBytes)
      return `${Math.floor(free / 1024)} KiB free in ${this.dir}, below the ${Math.floor(this.reserveBytes / 1024)} KiB reserve`;
    return this.failure;
  }

  /** Throws STORAGE_UNAVAILABLE while writes cannot be taken. */
  assertWritable(): void {
    const reason = this.reason();
    if (reason) throw new StorageUnavailableError(reason);
  }

  /**
   * Records a failed write: true when it was the storage's fault (then retries start), false for any other
   * error, which the caller handles as before.
   */
  noteFailure(err: unknown): boolean {
    if (!isStorageFailure(err)) return false;
    const reason = `writing the database failed: ${(err as Error).message}`;
    if (this.failure === null)
      this.log?.warn({ err: String(err) }, 'storage failing: mutations are refused, events and audit rows wait in memory');
    this.failure = reason;
    this.schedule();
    return true;
  }

  /**
   * `retry` writes what its owner holds back and answers whether everything is written. It runs on each
   * check while storage fails; storage counts as recovered once every retry succeeded.
   */
  onRetry(retry: () => boolean): void {
    this.retries.push(retry);
  }

  private schedule(): void {
    if (this.timer) return;
    const delay = Math.min(FIRST_RETRY_MS * 2 ** this.attempt, MAX_RETRY_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, delay);
    this.timer.unref();
  }

  private check(): void {
    if (freeBytes(this.dir) >= this.reserveBytes) {
      const before = this.failure;
      this.failure = null;
      // A retry that fails again notes its failure (and so schedules the next check).
      const done = this.retries
        .map((r) => {
          try {
            return r();
          } catch (err) {
            this.log?.warn({ err: String(err) }, 'writing held-back records failed');
            return false;
          }
        })
        .every(Boolean);
      if (done && this.failure === null) {
        this.attempt = 0;
        if (before) this.log?.info({}, 'storage writable again: held-back events and audit rows are written');
        return;
      }
      this.failure ??= before;
    }
    this.attempt++;
    this.schedule();
  }
}
