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

/** Runs a group of commits so that the events they commit reach the log together (EventSink.batch). */
export type Together = (work: () => void) => void;

interface Entry {
  /** The read's outcome, once it has settled. */
  outcome?: { value: unknown } | { error: unknown };
  commit: (r: unknown) => void;
  /** What the commit changes (a domain's or network's path), or null: it commits alone. */
  key: string | null;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The ordered commit line: reads start at once and run concurrently, but their commits (cache update, log
 * append, publish) run one after another in the order they were enqueued.
 *
 * Commits whose reads have settled by the time the line runs (once per turn of the event loop) form a group:
 * they run in order inside `together`, so the events they commit are appended to the log in one transaction
 * (one sync to disk instead of one each) and published after it. A group never holds two commits of the same
 * object, so whatever looks at the cache when an event is published (e.g. "is this undefined domain gone?")
 * sees it as that event's commit left it; commits without a key run alone. Each `enqueue` resolves once its
 * group is appended and published.
 */
export class CommitLine {
  private readonly queue: Entry[] = [];
  private scheduled = false;

  constructor(
    private readonly log: Logger,
    private readonly together: Together = (work) => work(),
  ) {}

  /**
   * Commits `read`'s result once everything enqueued before it has committed. A failed commit is logged here
   * too. `key` names what the commit changes; commits of different keys may share a group.
   */
  enqueue<T>(read: Promise<T>, commit: (r: T) => void, key: string | null = null): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      const entry: Entry = { commit: commit as (r: unknown) => void, key, resolve, reject };
      this.queue.push(entry);
      read.then(
        (value) => this.settled(entry, { value }),
        (error: unknown) => this.settled(entry, { error }),
      );
    });
    done.catch(() => undefined); // logged in line; the caller meets the error where it awaits
    return done;
  }

  /** Resolves once everything enqueued so far has committed (or failed). */
  drained(): Promise<unknown> {
    return this.enqueue(Promise.resolve(), () => undefined);
  }

  private settled(entry: Entry, outcome: NonNullable<Entry['outcome']>): void {
    entry.outcome = outcome;
    if (this.scheduled || !this.queue[0]?.outcome) return;
    // After this turn's I/O callbacks and their microtasks: reads settled together commit together.
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    while (this.queue[0]?.outcome) {
      const group = this.nextGroup();
      const failures = new Map<Entry, unknown>();
      try {
        this.together(() => {
          for (const entry of group) {
            try {
              const outcome = entry.outcome!;
              if ('error' in outcome) throw outcome.error;
              entry.commit(outcome.value);
            } catch (err) {
              failures.set(entry, err);
              this.log.error({ err }, 'commit failed');
            }
          }
        });
      } catch (err) {
        // The group's commits ran; what failed is what comes after them (the log taking their events), logged.
        this.log.error({ err }, 'commit failed');
      }
      for (const entry of group) {
        if (failures.has(entry)) entry.reject(failures.get(entry));
        else entry.resolve();
      }
    }
  }

  /** The settled entries at the head of the line that may commit together. */
  private nextGroup(): Entry[] {
    const group = [this.queue.shift()!];
    if (group[0]!.key === null) return group;
    const keys = new Set([group[0]!.key]);
    for (let next = this.queue[0]; next?.outcome && next.key !== null && !keys.has(next.key); next = this.queue[0]) {
      keys.add(next.key);
      group.push(this.queue.shift()!);
    }
    return group;
  }
}
