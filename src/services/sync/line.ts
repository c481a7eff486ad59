import type { Logger } from 'pino';
import { LibvirtError } from '../../libvirt/errors.js';

/** A read from libvirt, settled: its value or its (libvirt-classified) error. */
export type Read<T> = { ok: T } | { err: LibvirtError };

export function asRead<T>(p: Promise<T>): Promise<Read<T>> {
  return p.then(
    (ok) => ({ ok }),
    (err) => ({ err: err instanceof LibvirtError ? err : new LibvirtError('FAILED', String(err)) }),
  );
}

/**
 * The ordered commit line: reads start at once and run concurrently, but their commits (cache update, log
 * append, publish) run one after another in the order they were enqueued.
 */
export class CommitLine {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly log: Logger) {}

  /** Commits `read`'s result once everything enqueued before it has committed. A failed commit is logged here too. */
  enqueue<T>(read: Promise<T>, commit: (r: T) => void | Promise<void>): Promise<void> {
    const done = this.tail.then(async () => commit(await read));
    this.tail = done.catch((err) => this.log.error({ err }, 'commit failed'));
    return done;
  }

  /** Resolves once everything enqueued so far has committed (or failed). */
  drained(): Promise<unknown> {
    return this.tail;
  }
}
