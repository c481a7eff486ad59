import type { DomainEvent } from './types.js';

/** How many events the activity list keeps. */
export const ACTIVITY_LENGTH = 20;

/**
 * `known` (newest first, as shown) and `more` (oldest first, as the API and the stream give them) as one list,
 * newest first, each event once (by cursor), at most ACTIVITY_LENGTH long. Events of the same millisecond keep
 * the order they came in.
 */
export function merged(known: readonly DomainEvent[], more: readonly DomainEvent[]): DomainEvent[] {
  const inOrder = new Map<string, DomainEvent>();
  for (const e of [...known].reverse().concat(more)) {
    inOrder.delete(e.cursor);
    inOrder.set(e.cursor, e);
  }
  return [...inOrder.values()]
    .map((e, i) => ({ e, i, at: Date.parse(e.at) }))
    .sort((a, b) => b.at - a.at || b.i - a.i)
    .slice(0, ACTIVITY_LENGTH)
    .map(({ e }) => e);
}
