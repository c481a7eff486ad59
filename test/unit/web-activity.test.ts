import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACTIVITY_LENGTH, merged } from '../../clients/web/src/activity-list.js';
import type { DomainEvent } from '../../clients/web/src/types.js';

const event = (n: number, at: string): DomainEvent => ({
  cursor: `c${n}`,
  at,
  type: 'STARTED',
  detail: 'BOOTED',
  state: 'RUNNING',
  synthetic: false,
  ownerId: null,
  domain: { id: 'd', name: `vm-${n}`, uuid: 'u' },
});

test("the web app's activity list: newest first, each event once, the order of arrival within a millisecond", () => {
  const t = (s: number) => new Date(Date.UTC(2026, 11, 3, 12, 0, s)).toISOString();
  // Live events came before the first read of the newest ones answered, which holds two of them again.
  const live = merged([], [event(5, t(5)), event(6, t(5)), event(7, t(7))]);
  assert.deepEqual(
    live.map((e) => e.cursor),
    ['c7', 'c6', 'c5'],
  );
  const read = merged(live, [event(1, t(1)), event(5, t(5)), event(6, t(5))]);
  assert.deepEqual(
    read.map((e) => e.cursor),
    ['c7', 'c6', 'c5', 'c1'],
  );
  const many = merged(
    read,
    Array.from({ length: 30 }, (_, i) => event(100 + i, t(10 + i))),
  );
  assert.equal(many.length, ACTIVITY_LENGTH);
  assert.equal(many[0]!.cursor, 'c129');
});
