import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../src/db/index.js';
import { EventLog } from '../../src/services/events/log.js';
import { domainRecord } from '../helpers/records.js';

const domain = domainRecord({ uuid: '00000000-0000-0000-0000-000000000001' });

function append(log: EventLog, n: number, at = new Date()) {
  for (let i = 0; i < n; i++) log.appendDomain(1, { type: 'STARTED', detail: 'BOOTED', at, domain, synthetic: false }, null);
}

test('retention prunes the oldest events by count and age, never past a held cursor, and cursors stay resumable exactly', () => {
  const db = openDatabase(':memory:');
  const log = new EventLog(db);
  append(log, 5, new Date(Date.now() - 3600_000)); // ids 1..5, an hour old
  append(log, 15); // ids 6..20
  assert.equal(log.lastId(), 20);

  const hold = log.hold(3);
  assert.equal(log.prune({ maxCount: 10, maxAgeMs: 0 }), 3); // would drop 1..10; the hold at 3 stops it
  assert.equal(log.prunedThrough(), 3);
  assert.equal(log.canResumeAfter(2), false);
  assert.equal(log.canResumeAfter(3), true);
  hold.release();

  assert.equal(log.prune({ maxCount: 0, maxAgeMs: 60_000 }), 2); // the hour-old ones: 4, 5
  assert.equal(log.prunedThrough(), 5);
  assert.equal(log.prune({ maxCount: 10, maxAgeMs: 0 }), 5); // keep the newest 10: 11..20
  assert.deepEqual(
    log.read(0, { kind: 'DOMAIN' }, 100).map((r) => r.id),
    [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
  );
  assert.equal(log.canResumeAfter(9), false);
  assert.equal(log.canResumeAfter(10), true);
  assert.equal(log.canResumeAfter(21), false); // from the future: another database

  // Even with everything pruned, the boundary is known and ids are never reused.
  assert.equal(log.prune({ maxCount: 0, maxAgeMs: 1 }, Date.now() + 10_000), 10);
  assert.equal(log.prunedThrough(), 20);
  assert.equal(log.canResumeAfter(20), true);
  append(log, 1);
  assert.equal(log.lastId(), 21);
  db.$client.close();
});

test('the known state follows the log: upserted by events, dropped on UNDEFINED, replaced by a full snapshot', () => {
  const db = openDatabase(':memory:');
  const log = new EventLog(db);
  assert.equal(log.loadKnown(1), null);
  append(log, 1);
  assert.deepEqual(
    log.loadKnown(1)?.domains.map((d) => d.uuid),
    [domain.uuid],
  );
  log.appendDomain(1, { type: 'UNDEFINED', detail: 'REMOVED', at: new Date(), domain, synthetic: false }, null);
  assert.deepEqual(log.loadKnown(1), { domains: [], networks: [] });
  log.saveKnown(1, [{ ...domain, state: 'SHUTOFF' }], [], () => null);
  assert.equal(log.loadKnown(1)?.domains[0]?.state, 'SHUTOFF');
  db.$client.close();
});
