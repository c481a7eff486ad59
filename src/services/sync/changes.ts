import type { DomainEventType, DomainRecord } from '../../model/index.js';
import type { LibvirtError } from '../../libvirt/errors.js';

/** A domain as one re-read committed it, and the error that re-read met (the copy committed is then older). */
export type Committed = { domain: DomainRecord | undefined; failure?: LibvirtError };

/**
 * A change in progress that libvirt announces with `type`: the first such signal's re-read answers for it,
 * unless another signal of the domain came after that one while the call still ran (`superseded`).
 */
export type Awaited = { type: DomainEventType; committed?: Promise<Committed>; superseded?: boolean; arrived?: () => void };

/**
 * Matches mutations with the signals that announce them (see LibvirtSync.changeDomain): the changes to
 * domains in progress, by path, each waiting for the signal libvirt sends for it.
 */
export class AwaitedChanges {
  private readonly awaited = new Map<string, Awaited[]>();

  expect(path: string, type: DomainEventType): Awaited {
    const waiting: Awaited = { type };
    this.awaited.set(path, [...(this.awaited.get(path) ?? []), waiting]);
    return waiting;
  }

  /** A signal of the domain at `path` came, its re-read committing as `committed`. */
  signalled(path: string, type: DomainEventType, committed: Promise<Committed>): void {
    const changes = this.awaited.get(path) ?? [];
    // A change whose signal came already is superseded by any later one before its reply.
    for (const a of changes) if (a.committed) a.superseded = true;
    const waiting = changes.find((a) => a.type === type && !a.committed);
    if (waiting) {
      waiting.committed = committed;
      waiting.arrived?.();
    }
  }

  /** Resolves when the signal `waiting` is for has come, or after `ms`. */
  arrival(waiting: Awaited, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      waiting.arrived = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  stop(path: string, waiting: Awaited): void {
    const rest = (this.awaited.get(path) ?? []).filter((a) => a !== waiting);
    if (rest.length) this.awaited.set(path, rest);
    else this.awaited.delete(path);
  }
}
