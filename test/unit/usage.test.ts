import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../src/db/index.js';
import { OwnershipStore } from '../../src/db/stores/ownership.js';
import { UsageStore } from '../../src/db/stores/usage.js';
import { transaction } from '../../src/db/transaction.js';
import type { DomainLifecycleEvent, DomainRecord } from '../../src/model/index.js';
import { pino } from 'pino';
import { AccessPolicy } from '../../src/services/access/index.js';
import { EventLog } from '../../src/services/events/log.js';
import { EventStream } from '../../src/services/events/stream.js';
import type { StorageHealth } from '../../src/services/instance/index.js';
import { domainRecord } from '../helpers/records.js';

const H = 3_600_000;
const T0 = Date.parse('2026-11-01T00:00:00Z');
const GiB = 1024 ** 3;

const stopped = domainRecord({
  uuid: '00000000-0000-0000-0000-0000000000a1',
  name: 'web',
  state: 'SHUTOFF',
  stateReason: 'UNKNOWN',
  active: false,
  vcpus: 2,
  memoryMiB: 2048,
  disks: [
    { device: 'disk', target: 'vda', bus: 'virtio', source: null, pool: 'p', volume: 'v', capacityBytes: 10 * GiB },
    { device: 'cdrom', target: 'sda', bus: 'sata', source: null, pool: null, volume: null, capacityBytes: 2 * GiB },
  ],
});
const running: DomainRecord = { ...stopped, state: 'RUNNING', stateReason: 'BOOTED', active: true };

function setup() {
  const db = openDatabase(':memory:');
  db.$client
    .prepare(`INSERT INTO users (id, name, role, created_at) VALUES ('alice', 'alice', 'TENANT', 0), ('bob', 'bob', 'TENANT', 0)`)
    .run();
  const log = new EventLog(db);
  const at = (hours: number, type: DomainLifecycleEvent['type'], domain: DomainRecord, owner: string | null = 'alice') =>
    log.appendDomain(1, { type, detail: '', at: new Date(T0 + hours * H), domain, synthetic: false }, owner);
  return { db, log, at, usage: new UsageStore(db) };
}

const round = (n: number) => Math.round(n * 1000) / 1000;
const figures = (u: ReturnType<UsageStore['summary']>) =>
  u.map((d) => ({
    name: d.name,
    existed: round(d.existedHours),
    running: round(d.runningHours),
    vcpu: round(d.vcpuHours),
    memory: round(d.memoryGiBHours),
    disk: round(d.diskGiBHours),
  }));

test("a domain's events meter it: running hours count vCPUs and memory, existing hours count its disks (not the CD-ROM)", () => {
  const { db, at, usage } = setup();
  at(0, 'DEFINED', stopped);
  at(1, 'STARTED', running);
  at(4, 'STOPPED', stopped);
  at(6, 'UNDEFINED', stopped);
  const now = T0 + 100 * H;
  assert.deepEqual(figures(usage.summary('alice', T0, T0 + 24 * H, now)), [
    { name: 'web', existed: 6, running: 3, vcpu: 6, memory: 6, disk: 60 },
  ]);
  // A range cuts the periods it overlaps: 2h..5h holds 2 running hours and 3 existing ones.
  assert.deepEqual(figures(usage.summary('alice', T0 + 2 * H, T0 + 5 * H, now)), [
    { name: 'web', existed: 3, running: 2, vcpu: 4, memory: 4, disk: 30 },
  ]);
  assert.deepEqual(usage.summary('alice', T0 + 7 * H, T0 + 24 * H, now), []); // deleted before
  assert.deepEqual(usage.summary('bob', T0, T0 + 24 * H, now), []);
  db.$client.close();
});

test('a domain that still exists is counted up to now, never past it; the same state twice opens no new period', () => {
  const { db, at, usage } = setup();
  at(0, 'DEFINED', stopped);
  at(1, 'STARTED', running);
  at(2, 'RESUMED', running); // nothing metered changed
  assert.deepEqual(db.$client.prepare('SELECT count(*) AS n FROM usage_periods').get(), { n: 2 });
  const now = T0 + 3 * H;
  assert.deepEqual(figures(usage.summary('alice', T0, T0 + 24 * H, now)), [
    { name: 'web', existed: 3, running: 2, vcpu: 4, memory: 4, disk: 30 },
  ]);
  db.$client.close();
});

test('a domain handed to another user counts for each owner the time it was theirs', () => {
  const { db, at, usage } = setup();
  const owners = new OwnershipStore(db);
  at(0, 'DEFINED', stopped);
  at(0, 'STARTED', running);
  // The ownership write is what hands it on (assignDomain); its time is now, so the clock is the test's.
  const handedAt = Date.now();
  transaction(db, (tx) => owners.write(tx, stopped.uuid, 'bob'));
  const later = handedAt + 2 * H;
  const alice = usage.summary('alice', T0, later, later);
  const bob = usage.summary('bob', T0, later, later);
  assert.ok(Math.abs(alice[0]!.runningHours - (handedAt - T0) / H) < 0.01, 'alice: from the start to the hand-over');
  assert.ok(Math.abs(bob[0]!.runningHours - 2) < 0.01, 'bob: from the hand-over on');
  assert.equal(bob[0]!.vcpuHours, 2 * bob[0]!.runningHours);
  db.$client.close();
});

test('a full reload closes the periods of domains that are gone and meters those it finds for the first time', () => {
  const { db, log, at, usage } = setup();
  at(0, 'DEFINED', stopped);
  const other = { ...running, uuid: '00000000-0000-0000-0000-0000000000b2', name: 'db' };
  const before = Date.now();
  log.saveKnown(1, [other], [], () => 'alice'); // `web` vanished while the server was down; `db` predates metering
  const now = before + H;
  const names = usage
    .summary('alice', T0, now, now)
    .map((d) => [d.name, round(d.runningHours)])
    .sort();
  assert.deepEqual(names, [
    ['db', 1],
    ['web', 0],
  ]);
  const open = db.$client.prepare('SELECT domain_uuid FROM usage_periods WHERE ended_at IS NULL').all();
  assert.deepEqual(open, [{ domain_uuid: other.uuid }]);
  db.$client.close();
});

test('an undefined domain that still runs (now transient) is metered on until it stops', () => {
  const { db, at, usage } = setup();
  at(0, 'STARTED', running);
  at(1, 'UNDEFINED', { ...running, persistent: false });
  at(3, 'STOPPED', { ...stopped, persistent: false });
  const now = T0 + 10 * H;
  assert.deepEqual(figures(usage.summary('alice', T0, now, now)), [{ name: 'web', existed: 3, running: 3, vcpu: 6, memory: 6, disk: 30 }]);
  db.$client.close();
});

test('retention deletes only periods that ended before its horizon', () => {
  const { db, at, usage } = setup();
  at(0, 'DEFINED', stopped);
  at(1, 'STARTED', running);
  assert.equal(usage.prune(T0 + 2 * H), 1); // the stopped hour; the running period is open
  assert.equal(usage.prune(T0 + 100 * H), 0);
  db.$client.close();
});

/** The event log on a disk that can be made full: every write throws SQLite's SQLITE_FULL while `full`. */
class FillableLog extends EventLog {
  full = false;
  private check() {
    if (this.full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  }
  override appendOne(...a: Parameters<EventLog['appendOne']>) {
    this.check();
    return super.appendOne(...a);
  }
  override appendAll(...a: Parameters<EventLog['appendAll']>) {
    this.check();
    return super.appendAll(...a);
  }
  override saveKnown(...a: Parameters<EventLog['saveKnown']>) {
    this.check();
    return super.saveKnown(...a);
  }
}

test('a reload held through a full disk takes its place among the events: those after it are not undone when space returns', () => {
  const db = openDatabase(':memory:');
  const log = new FillableLog(db);
  let retry = () => true;
  // A stand-in for StorageHealth: says a failed write was the storage's, and lets the test run the retry.
  const storage = { noteFailure: () => true, onRetry: (r: () => boolean) => (retry = r) } as unknown as StorageHealth;
  const stream = new EventStream(log, new AccessPolicy(new OwnershipStore(db)), { maxCount: 0, maxAgeMs: 0 }, pino({ level: 'silent' }), {
    storage,
  });
  const owned = (d: DomainRecord) => ({ ...d, metadata: { ownerId: 'alice' } });
  const fresh = owned({ ...stopped, uuid: '00000000-0000-0000-0000-0000000000c3', name: 'new' });
  const sink = stream.forHost(1);
  sink.domain({ type: 'STARTED', detail: '', at: new Date(), domain: owned(running), synthetic: false });
  log.full = true;
  sink.snapshot([owned(running)], []); // a resync while the disk is full: `web` runs, `new` does not exist yet
  sink.domain({ type: 'STOPPED', detail: '', at: new Date(), domain: owned(stopped), synthetic: false });
  sink.domain({ type: 'UNDEFINED', detail: '', at: new Date(), domain: owned(stopped), synthetic: false });
  sink.domain({ type: 'DEFINED', detail: '', at: new Date(), domain: fresh, synthetic: false });
  assert.equal(stream.heldCount, 3);
  log.full = false;
  assert.equal(retry(), true);
  const open = db.$client.prepare('SELECT domain_uuid AS uuid, running FROM usage_periods WHERE ended_at IS NULL').all();
  assert.deepEqual(open, [{ uuid: fresh.uuid, running: 0 }], '`web` deleted stays closed; `new` stays metered');
  assert.deepEqual(
    log.loadKnown(1)?.domains.map((d) => d.uuid),
    [fresh.uuid],
    'the known state is the newest too',
  );
  db.$client.close();
});
