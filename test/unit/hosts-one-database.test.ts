import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { openDatabase } from '../../src/db/index.js';
import { HostStore } from '../../src/db/stores/hosts.js';
import { OwnershipStore } from '../../src/db/stores/ownership.js';
import { AccessPolicy, QuotaService } from '../../src/services/access/index.js';
import { EventLog } from '../../src/services/events/log.js';
import { EventStream } from '../../src/services/events/stream.js';
import type { StorageHealth } from '../../src/services/instance/index.js';
import { domainRecord } from '../helpers/records.js';

// What two hosts' sync pipelines write into the one database must not undo each other's: each reload speaks for
// its own host only. The test driver's built-in `test` domain has this UUID on every host.
const TEST_UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f';

function setup() {
  const db = openDatabase(':memory:');
  const hosts = new HostStore(db);
  const [one, two] = [hosts.ensure('hv1').id, hosts.ensure('hv2').id];
  db.$client.prepare(`INSERT INTO users (id, name, role, created_at) VALUES ('alice', 'alice', 'TENANT', 0)`).run();
  const access = new AccessPolicy(new OwnershipStore(db));
  const log = new EventLog(db);
  const stream = new EventStream(log, access, { maxCount: 0, maxAgeMs: 0 }, pino({ level: 'silent' }));
  return { db, one, two, log, stream, quotas: new QuotaService(db, access) };
}

const openPeriods = (db: ReturnType<typeof openDatabase>) =>
  db.$client
    .prepare('SELECT host_id AS host, domain_uuid AS uuid FROM usage_periods WHERE ended_at IS NULL ORDER BY host_id, domain_uuid')
    .all();

test("two hosts' domains of one UUID are two known objects, two metered domains and two event subjects", () => {
  const { db, one, two, log, stream } = setup();
  const onOne = domainRecord({ uuid: TEST_UUID, name: 'test', path: '/org/libvirt/Test/domain/_1' });
  const onTwo = { ...onOne, vcpus: 2 };
  stream.forHost(one).domain({ type: 'STARTED', detail: 'BOOTED', at: new Date(), domain: onOne, synthetic: true });
  stream.forHost(two).domain({ type: 'STARTED', detail: 'BOOTED', at: new Date(), domain: onTwo, synthetic: true });

  assert.deepEqual(log.loadKnown(one)?.domains, [onOne]);
  assert.deepEqual(log.loadKnown(two)?.domains, [onTwo]);
  assert.deepEqual(openPeriods(db), [
    { host: one, uuid: TEST_UUID },
    { host: two, uuid: TEST_UUID },
  ]);
  const events = (hostId: number) => log.read(0, { kind: 'DOMAIN', subjectUuid: TEST_UUID, hostId }, 10);
  assert.deepEqual(
    events(one).map((r) => r.hostId),
    [one],
  );
  assert.deepEqual(
    events(two).map((r) => EventLog.toDomainEvent(r).domain.hostId),
    [two],
    'an event read back names its host, though its record did not',
  );
  db.$client.close();
});

test("a host's reload replaces its own known state and closes its own periods, never another host's", () => {
  const { db, one, two, log, stream } = setup();
  const test1 = domainRecord({ uuid: TEST_UUID, name: 'test' });
  const web = domainRecord({ uuid: '00000000-0000-0000-0000-0000000000a1', name: 'web' });
  stream.forHost(one).snapshot([test1, web], []);
  stream.forHost(two).snapshot([test1], []);

  // Host two's libvirt comes back empty (its built-in domain undefined while the server was down).
  stream.forHost(two).snapshot([], []);

  assert.deepEqual(
    log
      .loadKnown(one)
      ?.domains.map((d) => d.name)
      .sort(),
    ['test', 'web'],
    "host one's baseline is kept: its next start announces nothing it did not change",
  );
  assert.deepEqual(log.loadKnown(two)?.domains ?? [], []);
  assert.deepEqual(
    openPeriods(db),
    [
      { host: one, uuid: web.uuid },
      { host: one, uuid: TEST_UUID },
    ],
    "host one's domains are still metered",
  );
  db.$client.close();
});

test('a reservation is on the host placement chose: placement counts that host alone, and its reconcile drops only its own', () => {
  const { db, one, two, quotas } = setup();
  const resources = { vcpus: 2, memoryMiB: 512, diskGiB: 1, interfaces: 1 };
  const place = (uuid: string, hostId: number) =>
    quotas.transaction((tx) => {
      quotas.reserve('alice', uuid, resources);
      // Between the quota's reservation and placement, the reservation counts on whichever host is asked.
      assert.ok(
        quotas.reservationSizes(one === hostId ? two : one).some((r) => r.domainUuid === uuid),
        'the create being placed counts on every host',
      );
      quotas.placed(uuid, hostId, tx);
    });
  db.$client
    .prepare(
      `INSERT INTO quotas (user_id, max_domains, max_vcpus, max_memory_mib, max_disk_gib, max_interfaces) VALUES ('alice', 9, 99, 99999, 99, 9)`,
    )
    .run();
  place('00000000-0000-0000-0000-0000000000b1', one);
  place('00000000-0000-0000-0000-0000000000b2', two);

  assert.deepEqual(
    quotas.reservationSizes(two).map((r) => r.domainUuid),
    ['00000000-0000-0000-0000-0000000000b2'],
  );
  // Host two's start-up reconciliation finds no domain in its libvirt: host one's reservation is not its to drop.
  assert.deepEqual(quotas.dropMissing(two, new Set()), ['00000000-0000-0000-0000-0000000000b2']);
  assert.equal(quotas.usage('alice').domains, 1, "the tenant's quota still holds host one's domain");
  assert.deepEqual(
    quotas.reservationSizes(one).map((r) => r.domainUuid),
    ['00000000-0000-0000-0000-0000000000b1'],
  );
  db.$client.close();
});

test("a host new to a database has no known state yet (its first start), though the log has the first host's events", () => {
  const { db, one, two, log, stream } = setup();
  stream
    .forHost(one)
    .domain({ type: 'DEFINED', detail: 'ADDED', at: new Date(), domain: domainRecord({ uuid: TEST_UUID }), synthetic: false });
  assert.equal(log.loadKnown(two), null, 'nothing to announce changes against: its domains are loaded, not announced');
  assert.notEqual(log.loadKnown(one), null);
  db.$client.close();
});

test('reloads of two hosts held through a full disk supersede their own older ones: one write per host when space returns', () => {
  const db = openDatabase(':memory:');
  const hosts = new HostStore(db);
  const [one, two] = [hosts.ensure('hv1').id, hosts.ensure('hv2').id];
  const saved: number[] = [];
  let full = true;
  class FillableLog extends EventLog {
    override saveKnown(...a: Parameters<EventLog['saveKnown']>) {
      if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      saved.push(a[0]);
      return super.saveKnown(...a);
    }
  }
  let retry = () => true;
  const storage = { noteFailure: () => true, onRetry: (r: () => boolean) => (retry = r) } as unknown as StorageHealth;
  const log = new FillableLog(db);
  const stream = new EventStream(log, new AccessPolicy(new OwnershipStore(db)), { maxCount: 0, maxAgeMs: 0 }, pino({ level: 'silent' }), {
    storage,
  });
  const web = domainRecord({ uuid: '00000000-0000-0000-0000-0000000000a1', name: 'web' });
  for (let i = 0; i < 10; i++) {
    stream.forHost(one).snapshot([{ ...web, vcpus: i + 1 }], []);
    stream.forHost(two).snapshot([], []);
  }
  full = false;
  assert.equal(retry(), true);
  assert.deepEqual(saved.sort(), [one, two]);
  assert.equal(log.loadKnown(one)?.domains[0]?.vcpus, 10, "host one's newest reload is the one written");
  db.$client.close();
});
