import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { DEFAULT_EVENTS } from '../../src/config.js';
import { openDatabase } from '../../src/db/index.js';
import { AccessPolicy } from '../../src/services/access/authorization.js';
import { EventLog } from '../../src/services/events/log.js';
import { EventStream } from '../../src/services/events/stream.js';
import type { DomainLifecycleEvent } from '../../src/model/index.js';
import { OwnershipStore } from '../../src/db/stores/ownership.js';
import { domainRecord } from '../helpers/records.js';

// Over the GraphQL server a replay runs in one turn of the event loop, so no change can land in the middle of
// it there; the stream is built to allow that, and only driving it by hand reaches the replay/live boundary.
const domain = domainRecord({ uuid: '00000000-0000-0000-0000-0000000000b1', name: 'b' });

const HISTORY = 600; // more than two of the stream's replay pages (256 events each)
const RESUME_AFTER = 10;

function newStream() {
  const db = openDatabase(':memory:');
  const stream = new EventStream(new EventLog(db), new AccessPolicy(new OwnershipStore(db)), DEFAULT_EVENTS, pino({ level: 'silent' }));
  const sink = stream.forHost(1);
  const change = (n: number) => {
    for (let i = 0; i < n; i++)
      sink.domain({ type: i % 2 ? 'RESUMED' : 'SUSPENDED', detail: 'PAUSED', at: new Date(), domain, synthetic: false });
  };
  return { db, stream, change };
}

/** The next event, or a failure saying what was received so far (never a hang: every event is already committed). */
async function nextOf(it: AsyncIterator<DomainLifecycleEvent>, got: number[]): Promise<number> {
  let timer!: NodeJS.Timeout;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no event after ${got.length} (last cursor ${got.at(-1)}), though every expected one is in the log`)),
      5_000,
    );
  });
  try {
    const r = await Promise.race([it.next(), stuck]);
    assert.equal(r.done, false, `the stream ended after ${got.length} events`);
    return r.value.seq;
  } finally {
    clearTimeout(timer);
  }
}

test('a resumed subscriber gets every event once when changes land while its replay is read, wherever in the replay they land', async () => {
  // Where the burst lands: before the first read, inside a page, at the last event of a page, right after it,
  // after the whole history was handed out but before the replay noticed its end.
  const points = [0, 1, 100, 255, 256, 257, 511, 512, 513, HISTORY - RESUME_AFTER - 1, HISTORY - RESUME_AFTER];
  const cases = points.flatMap((consumed) => [1, 2, 7].map((burst) => ({ consumed, burst, trickle: false })));
  cases.push({ consumed: 0, burst: 1, trickle: true }); // one change after every event received

  for (const { consumed, burst, trickle } of cases) {
    const { db, stream, change } = newStream();
    try {
      change(HISTORY);
      const it = stream.subscribe<DomainLifecycleEvent>({ kind: 'DOMAIN', after: RESUME_AFTER, sql: {}, accept: () => true });
      const got: number[] = [];
      for (let i = 0; i < consumed; i++) got.push(await nextOf(it, got));
      change(burst);
      let total = HISTORY + burst;
      while (got.length < total - RESUME_AFTER) {
        got.push(await nextOf(it, got));
        if (trickle && total < HISTORY + 700) {
          change(1);
          total++;
        }
      }
      // Asked for the next event (the replay finds its end and the stream waits live), then one more change: a
      // repeated event shows up in its place.
      const last = nextOf(it, got);
      await new Promise((resolve) => setImmediate(resolve));
      change(1);
      got.push(await last);
      const expected = Array.from({ length: total + 1 - RESUME_AFTER }, (_, i) => RESUME_AFTER + 1 + i);
      const where = `burst of ${burst} after ${consumed} replayed${trickle ? ', then one per event' : ''}`;
      const repeated = got.filter((seq, i) => got.indexOf(seq) !== i);
      assert.deepEqual(repeated, [], `cursors delivered twice (${where})`);
      assert.deepEqual(got, expected, `every cursor once, in order (${where})`);
      await it.return?.();
    } finally {
      db.$client.close();
    }
  }
});
