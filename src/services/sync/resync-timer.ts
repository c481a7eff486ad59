import type { Logger } from 'pino';

/** Resyncs run one at a time, at most one waiting; a failed one is retried with backoff (250 ms doubling to 10 s). */
export class ResyncTimer {
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private stopped = false;

  constructor(
    private readonly resync: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** Whether a resync is waiting to run. */
  get pending(): boolean {
    return this.timer !== null;
  }

  schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) {
      // A retry waiting out its backoff is brought forward when there is news (a new owner, the bus back).
      if (delayMs > 0) return;
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.resync().then(
        () => (this.attempt = 0),
        (err) => {
          this.attempt++;
          const next = Math.min(250 * 2 ** this.attempt, 10_000);
          this.log.warn({ err: String(err), retryInMs: next }, 'resync failed');
          this.schedule(next);
        },
      );
    }, delayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
