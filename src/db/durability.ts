import { openSync, closeSync, fdatasync } from 'node:fs';

/**
 * Group commit for a WAL-mode database on `synchronous = NORMAL`.
 *
 * With NORMAL a commit is written to the WAL (the OS has it: a crash of this process loses nothing) but not
 * fsynced, so a power loss may take back the last commits. Where that matters — before a reply leaves, before
 * an event is published, before libvirt is changed on the strength of a row — callers await `flush()`, which
 * fdatasyncs the WAL on libuv's thread pool instead of blocking the event loop the way `synchronous = FULL`
 * does once per commit (~0.2 ms each, a dozen per create + delete). Callers waiting at the same time share one
 * sync.
 */
/** fs.fdatasync's shape; tests hold or fail it. */
export type Datasync = (fd: number, done: (err: Error | null) => void) => void;

export class WalFlusher {
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private fd: number | null = null;
  private closed = false;
  /** Set by the first failed sync, for good: see `flush`. */
  private failure: Error | null = null;

  /**
   * `walFile` is null for an in-memory database, where there is nothing to sync. `onFailure` hears of the
   * first failed sync (the server cannot go on: see `flush`).
   */
  constructor(
    private readonly walFile: string | null,
    private readonly datasync: Datasync = fdatasync,
    private readonly onFailure: (err: Error) => void = () => {},
  ) {}

  /**
   * Resolves once every transaction committed before this call is on disk. After a failed sync every call
   * rejects: Linux marks the pages that failed to write clean, so a later sync on the file may report success
   * for a WAL that is not whole on disk — nothing can be promised durable any more until a restart lets SQLite
   * recover from what is.
   */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the database is closed'));
    if (this.walFile === null) return Promise.resolve();
    // A sync already running may have started before the caller's commit: the caller needs the next one,
    // which everyone arriving meanwhile shares. Syncs run one at a time, so they complete in the order asked.
    if (this.queued) return this.queued;
    if (!this.running) return this.begin();
    this.queued = this.running.then(
      () => this.next(),
      () => this.next(),
    );
    return this.queued;
  }

  /** Refuses further flushes; the WAL file is let go once a sync still running is done with it. */
  close(): void {
    this.closed = true;
    const release = () => {
      if (this.fd !== null) closeSync(this.fd);
      this.fd = null;
    };
    if (this.running) void this.running.then(release, release);
    else release();
  }

  private next(): Promise<void> {
    this.queued = null;
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the database is closed'));
    return this.begin();
  }

  private begin(): Promise<void> {
    const run = new Promise<void>((resolve, reject) => {
      // SQLite keeps the WAL file (same inode) while the database is open; it is opened on first use because
      // it exists only once the database has been written in WAL mode.
      this.fd ??= openSync(this.walFile!, 'r');
      this.datasync(this.fd, (err) => (err ? reject(err) : resolve()));
    })
      .catch((err: unknown) => {
        const failure = err instanceof Error ? err : new Error(String(err));
        if (!this.failure) {
          this.failure = failure;
          this.onFailure(failure);
        }
        throw this.failure;
      })
      .finally(() => {
        if (this.running === run) this.running = null;
      });
    this.running = run;
    return run;
  }
}
