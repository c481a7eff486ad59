import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../src/db/index.js';
import { HostStore } from '../../src/db/stores/hosts.js';
import { OwnershipStore } from '../../src/db/stores/ownership.js';
import type { DomainRecord, HostLifecycleEvent, NewHostEvent } from '../../src/model/index.js';
import { AccessPolicy } from '../../src/services/access/index.js';
import { HostRegistry } from '../../src/services/hosts/index.js';
import type { HostService } from '../../src/services/instance/index.js';
import { StateCache } from '../../src/services/sync/index.js';

/**
 * When the registry announces a host's state: at a start only when it differs from the log's last word on it,
 * then on each change of libvirt's reachability. libvirt's side is a stand-in here (a pure unit test); the
 * server tests (test/server/hosts.test.ts) see the same through the API with a real libvirt-dbus.
 */
/** libvirt's view of a 4-CPU, 8 GiB host named hv1; `stale()` says whether libvirt is away. */
function hostView(stale: () => boolean = () => false): HostService {
  return {
    info: () => ({
      hostname: 'hv1',
      libvirtVersion: '9.0.0',
      cpus: 4,
      memoryMiB: 8192,
      driver: 'Test',
      domainType: 'test',
      domainTypeReason: '',
      stale: stale(),
    }),
  } as unknown as HostService;
}

function registry(last: (Pick<NewHostEvent, 'type'> & { draining?: boolean }) | null, db = openDatabase(':memory:')) {
  let stale = false;
  let watcher: (connected: boolean) => void = () => {};
  const appended: NewHostEvent[] = [];
  const view = hostView(() => stale);
  const latest = (): HostLifecycleEvent | null =>
    last && {
      seq: 1,
      type: last.type,
      detail: 'STARTUP',
      at: new Date(),
      synthetic: true,
      host: {
        id: '1',
        name: 'hv1',
        state: last.type,
        draining: last.draining ?? false,
        hostname: 'hv1',
        libvirtVersion: '',
        cpus: 4,
        memoryMiB: 8192,
      },
    };
  const store = new HostStore(db);
  const hosts = new HostRegistry(
    store,
    new AccessPolicy(new OwnershipStore(db)),
    [{ id: store.first()?.id ?? store.ensure('hv1').id, view, cache: new StateCache(), watch: (fn) => (watcher = fn) }],
    () => [],
    { append: (e) => appended.push(e), latest },
  );
  return {
    hosts,
    appended,
    libvirt(connected: boolean) {
      stale = !connected;
      watcher(connected);
    },
  };
}

const brief = (events: NewHostEvent[]) => events.map((e) => [e.type, e.detail, e.synthetic]);

test('a first start announces the host UP (synthetic STARTUP); a start that finds it as its last event said announces nothing', () => {
  const first = registry(null);
  first.hosts.start();
  assert.deepEqual(brief(first.appended), [['UP', 'STARTUP', true]]);
  assert.deepEqual(first.appended[0]!.host, {
    id: '1',
    name: 'hv1',
    state: 'UP',
    draining: false,
    hostname: 'hv1',
    libvirtVersion: '9.0.0',
    cpus: 4,
    memoryMiB: 8192,
  });
  const again = registry({ type: 'UP' });
  again.hosts.start();
  assert.deepEqual(again.appended, []);
});

test('a start after the server stopped while its host was DOWN announces it UP again', () => {
  const r = registry({ type: 'DOWN' });
  r.hosts.start();
  assert.deepEqual(brief(r.appended), [['UP', 'STARTUP', true]]);
});

test('a start after the log dropped every host event (its retention) finds the last word on the host row', () => {
  const db = openDatabase(':memory:');
  const first = registry(null, db);
  first.hosts.start();
  first.libvirt(false);
  first.libvirt(true);
  first.hosts.stop();
  assert.deepEqual(brief(first.appended), [
    ['UP', 'STARTUP', true],
    ['DOWN', 'LIBVIRT_LOST', false],
    ['UP', 'LIBVIRT_BACK', false],
  ]);
  const pruned = registry(null, db);
  pruned.hosts.start();
  assert.deepEqual(pruned.appended, [], 'the host is UP, as last announced: nothing new to say');

  const lost = registry(null, db);
  lost.hosts.start();
  lost.libvirt(false);
  lost.hosts.stop();
  const later = registry(null, db);
  later.hosts.start();
  assert.deepEqual(brief(later.appended), [['UP', 'STARTUP', true]], 'last announced DOWN, found UP');
});

test('a start that cannot write the host row (a full disk) still starts, and announces its news', () => {
  const db = openDatabase(':memory:');
  const first = registry({ type: 'UP' }, db);
  first.hosts.start();
  first.hosts.stop();
  db.$client.pragma('query_only = ON'); // every write fails, as on a full disk
  const r = registry({ type: 'DOWN' }, db);
  assert.doesNotThrow(() => r.hosts.start());
  assert.deepEqual(brief(r.appended), [['UP', 'STARTUP', true]]);
});

test('libvirt lost and back: DOWN then UP, once each, however often libvirt says so', () => {
  const r = registry({ type: 'UP' });
  r.hosts.start();
  r.libvirt(false);
  r.libvirt(false);
  r.libvirt(true);
  r.libvirt(true);
  assert.deepEqual(brief(r.appended), [
    ['DOWN', 'LIBVIRT_LOST', false],
    ['UP', 'LIBVIRT_BACK', false],
  ]);
});

test('placement counts a resize under way at its new size, and a change that grows nothing always fits', () => {
  const db = openDatabase(':memory:');
  const admin = { userId: 'a', name: 'admin', role: 'ADMIN', tokenId: 't' } as const;
  const view = hostView();
  const cache = new StateCache();
  cache.setDomain({ uuid: 'A', path: '/A', name: 'a', vcpus: 1, memoryMiB: 256, active: false } as unknown as DomainRecord);
  // Domain A's reservation already holds 3 vCPUs (its resize is under way); libvirt still shows 1.
  const store = new HostStore(db);
  const hosts = new HostRegistry(
    store,
    new AccessPolicy(new OwnershipStore(db)),
    [{ id: store.ensure('hv1').id, view, cache, watch: () => {} }],
    () => [{ domainUuid: 'A', vcpus: 3, memoryMiB: 256 }],
    { append: () => {}, latest: () => null },
    { cpuAllocationRatio: 1, memoryAllocationRatio: null },
  );
  hosts.start();
  assert.equal(hosts.useOf(admin, '1')!.vcpus, 3);
  // A create of 2 more (its own reservation would be counted too; here the host holds 3 of 4 before it).
  assert.throws(() => hosts.fits(admin, { vcpus: 2, memoryMiB: 0 }, false, 1), /no host has room: hv1 cannot take 2 vCPUs \(1 of 4 free\)/);
  assert.doesNotThrow(() => hosts.fits(admin, { vcpus: 0, memoryMiB: 512 }, false, 1), 'memory is not limited; vCPUs do not grow');
  assert.doesNotThrow(() => hosts.fits(admin, { vcpus: -1, memoryMiB: 0 }, true, 1), 'a shrink always fits');
});
