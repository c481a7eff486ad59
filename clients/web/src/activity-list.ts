import type { DomainEvent } from './types.js';

/** How many events the activity list keeps. */
export const ACTIVITY_LENGTH = 20;

/**
 * `shown` (newest first) with the events of `more` (in the order the stream gave them: oldest first) on top,
 * each event once: one the list holds already (a replay after a reconnect) keeps its place. At most
 * ACTIVITY_LENGTH long. The stream's order is the log's, so no clock is consulted.
 */
export function merged(shown: readonly DomainEvent[], more: readonly DomainEvent[]): DomainEvent[] {
  const seen = new Set(shown.map((e) => e.cursor));
  const fresh: DomainEvent[] = [];
  for (const e of more) {
    if (seen.has(e.cursor)) continue;
    seen.add(e.cursor);
    fresh.unshift(e);
  }
  return [...fresh, ...shown].slice(0, ACTIVITY_LENGTH);
}
