import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACTIVITY_LENGTH, merged } from '../../clients/web/src/activity-list.js';
import type { DomainEvent } from '../../clients/web/src/types.js';

const event = (n: number): DomainEvent => ({
  cursor: `c${n}`,
  at: new Date(Date.UTC(2026, 11, 3, 12, 0, 0)).toISOString(), // one millisecond for all: order is the stream's
  type: 'STARTED',
  detail: 'BOOTED',
  state: 'RUNNING',
  synthetic: false,
  ownerId: null,
  domain: { id: 'd', name: `vm-${n}`, uuid: 'u' },
});
const cursors = (events: readonly DomainEvent[]) => events.map((e) => e.cursor);

test("the web app's activity list: newest on top in the stream's order, a replayed event once and in its place", () => {
  const live = merged([], [event(5), event(6), event(7)]);
  assert.deepEqual(cursors(live), ['c7', 'c6', 'c5']);
  // After a reconnect the stream resumes after a cursor the page had: what it repeats stays where it was.
  const resumed = merged(live, [event(6), event(7), event(8)]);
  assert.deepEqual(cursors(resumed), ['c8', 'c7', 'c6', 'c5']);
  const many = merged(
    resumed,
    Array.from({ length: 30 }, (_, i) => event(100 + i)),
  );
  assert.equal(many.length, ACTIVITY_LENGTH);
  assert.deepEqual(cursors(many).slice(0, 2), ['c129', 'c128']);
});
