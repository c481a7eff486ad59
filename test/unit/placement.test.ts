import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { openDatabase } from '../../src/db/index.js';
import { HostStore } from '../../src/db/stores/hosts.js';
import { OwnershipStore } from '../../src/db/stores/ownership.js';
import { AccessPolicy, QuotaService, type Viewer } from '../../src/services/access/index.js';
import { NoHostAvailableError, QuotaExceededError } from '../../src/services/errors.js';
import { Fleet, type FleetMember } from '../../src/services/fleet/index.js';
import { HostRegistry } from '../../src/services/hosts/index.js';
import type { HostService } from '../../src/services/instance/index.js';
import { StateCache } from '../../src/services/sync/index.js';
import { domainRecord } from '../helpers/records.js';

/**
 * Placement over several hosts, with the quota in the same transaction, as createDomain does it. libvirt's side
 * of each host is a stand-in (its figures and whether it answers): a pure unit test of the choice.
 */
const admin = { userId: 'admin', name: 'admin', role: 'ADMIN', tokenId: 't' } as const;
const alice = { userId: 'alice', name: 'alice', role: 'TENANT', tokenId: 't' } as const;

function fleet(names: string[], cpus: number) {
  const db = openDatabase(':memory:');
  db.$client.prepare(`INSERT INTO users (id, name, role, created_at) VALUES ('alice', 'alice', 'TENANT', 0)`).run();
  const access = new AccessPolicy(new OwnershipStore(db));
  const quotas = new QuotaService(db, access);
  quotas.set(admin, 'alice', { maxDomains: 25, maxVcpus: 1000, maxMemoryMiB: 1_000_000, maxDiskGiB: 1000, maxInterfaces: 100 });
  const store = new HostStore(db);
  const down = new Set<string>();
  const served = names.map((name) => ({
    id: store.ensure(name).id,
    cache: new StateCache(),
    view: {
      info: () => ({
        hostname: name,
        libvirtVersion: '10.0.0',
        cpus,
        memoryMiB: 65536,
        driver: 'Test',
        domainType: 'test',
        domainTypeReason: '',
        stale: down.has(name),
      }),
    } as unknown as HostService,
    watch: () => {},
  }));
  const hosts = new HostRegistry(
    store,
    access,
    served,
    (hostId) => quotas.reservationSizes(hostId),
    { append: () => {}, latest: () => null },
    { cpuAllocationRatio: 1, memoryAllocationRatio: null },
  );
  hosts.start();
  // Each host's create as CreateFlow makes it (the quota's reservation, placement confirmed on that host, the
  // reservation's host: all or nothing), driven by the fleet as main.ts will drive several hosts.
  const fleet = new Fleet(
    hosts,
    served.map(({ id }) => ({
      hostId: id,
      networks: { byName: () => ({}) },
      provisioning: {
        holdName: () => () => {},
        create: (viewer: Viewer, input: { vcpus: number; memoryMiB: number }) =>
          Promise.resolve().then(() =>
            quotas.transaction((tx) => {
              const uuid = randomUUID();
              quotas.reserve('alice', uuid, { vcpus: input.vcpus, memoryMiB: input.memoryMiB, diskGiB: 1, interfaces: 1 });
              quotas.placed(uuid, hosts.placeOn(viewer, id, input), tx);
              return domainRecord({ uuid });
            }),
          ),
      },
    })) as unknown as FleetMember[],
  );
  const create = async (viewer: Viewer = alice, vcpus = 1): Promise<number | Error> => {
    try {
      return (await fleet.create(viewer, { name: 'vm', vcpus, memoryMiB: 64, diskGiB: 1, network: 'net' })).hostId;
    } catch (err) {
      if (err instanceof QuotaExceededError || err instanceof NoHostAvailableError) return err;
      throw err;
    }
  };
  const ids = Object.fromEntries(served.map((s, i) => [names[i]!, s.id]));
  return { db, hosts, quotas, served, down, create, ids };
}

const tally = (results: (number | Error)[]) => {
  const counts = new Map<string, number>();
  for (const r of results) {
    const key = r instanceof Error ? r.constructor.name : `host ${r}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return Object.fromEntries([...counts].sort());
};

test('40 creates by one tenant with a limit of 25 give exactly 25, spread over both hosts', async () => {
  const { hosts, create, ids } = fleet(['hv1', 'hv2'], 16);
  const results: (number | Error)[] = [];
  for (let i = 0; i < 40; i++) results.push(await create());
  assert.deepEqual(tally(results), { QuotaExceededError: 15, [`host ${ids.hv1}`]: 13, [`host ${ids.hv2}`]: 12 });
  for (const h of hosts.list(admin)) assert.ok(hosts.useOf(admin, h.id)!.vcpus <= h.capacity.vcpus!, `${h.name} within its capacity`);
});

test('no host is ever over its capacity: the creates it cannot take are refused as NO_HOST_AVAILABLE, told apart from the quota', async () => {
  const { hosts, create, ids } = fleet(['hv1', 'hv2'], 10);
  const results: (number | Error)[] = [];
  for (let i = 0; i < 40; i++) results.push(await create());
  // The quota would take 25; the hosts take 20, the rest are refused for room, not quota.
  assert.deepEqual(tally(results), { NoHostAvailableError: 20, [`host ${ids.hv1}`]: 10, [`host ${ids.hv2}`]: 10 });
  assert.deepEqual(
    hosts.list(admin).map((h) => hosts.useOf(admin, h.id)!.vcpus),
    [10, 10],
  );
  const refused = results.find((r) => r instanceof NoHostAvailableError)!;
  assert.equal(refused.message, 'no host has room for this guest right now; try a smaller one, or again later', 'a tenant learns no host');
});

test("the guests already on a host count: a new one goes where it leaves the least full, and an admin's refusal names each host", async () => {
  const { hosts, served, create, ids } = fleet(['hv1', 'hv2'], 4);
  served[0]!.cache.setDomain(domainRecord({ uuid: randomUUID(), name: 'big', path: '/big', vcpus: 3 }));
  // hv1 holds 3 of 4 vCPUs: hv2 is less full until it holds as much.
  assert.deepEqual(tally([await create(), await create(), await create()]), { [`host ${ids.hv2}`]: 3 });
  assert.deepEqual(tally([await create()]), { [`host ${ids.hv1}`]: 1 }, 'as full as each other: the first host');
  assert.deepEqual(tally([await create()]), { [`host ${ids.hv2}`]: 1 }, 'hv1 is full: hv2 takes its last room');
  const refused = await create(admin);
  assert.ok(refused instanceof NoHostAvailableError, 'both hosts are full');
  assert.equal(
    refused.message,
    'no host has room: hv1 cannot take 1 vCPUs (0 of 4 free); no host has room: hv2 cannot take 1 vCPUs (0 of 4 free)',
  );
  assert.equal(hosts.useOf(admin, String(ids.hv1))!.vcpus, 4);
});

test('a DOWN host is skipped while another is UP; a draining one always; with every host draining, NO_HOST_AVAILABLE', async () => {
  const { hosts, down, create, ids } = fleet(['hv1', 'hv2'], 16);
  down.add('hv1');
  assert.deepEqual(tally([await create(), await create(), await create()]), { [`host ${ids.hv2}`]: 3 });
  assert.deepEqual(
    hosts.list(admin).map((h) => [h.name, h.state]),
    [
      ['hv1', 'DOWN'],
      ['hv2', 'UP'],
    ],
  );
  down.add('hv2');
  assert.deepEqual(
    tally([await create()]),
    { [`host ${ids.hv1}`]: 1 },
    "every host DOWN: the least full is tried, and its libvirt's answer decides",
  );
  down.clear();
  hosts.setDraining(admin, String(ids.hv1), true);
  assert.deepEqual(tally([await create(), await create()]), { [`host ${ids.hv2}`]: 2 });
  hosts.setDraining(admin, String(ids.hv2), true);
  const refused = await create(admin);
  assert.ok(refused instanceof NoHostAvailableError, 'nothing takes new guests');
  assert.equal(refused.message, 'no host takes new guests: hv1, hv2 are draining');
  assert.equal(hosts.find(alice, String(ids.hv2)), null, 'tenants see no host');
  assert.throws(() => hosts.setDraining(admin, '999', false), /not found/i);
});

test('placeOn confirms a host inside the create: an order read before another create took the last room is refused there', () => {
  const { hosts, quotas, ids } = fleet(['hv1', 'hv2'], 1);
  const needs = { vcpus: 1, memoryMiB: 64 };
  const order = hosts.candidates(alice, needs);
  assert.deepEqual(order, [ids.hv1, ids.hv2]);
  // Another create takes hv1's only vCPU between the read and this create's transaction.
  quotas.transaction((tx) => {
    quotas.reserve('alice', 'first', { ...needs, diskGiB: 1, interfaces: 1 });
    quotas.placed('first', hosts.placeOn(alice, ids.hv1!, needs), tx);
  });
  assert.throws(
    () =>
      quotas.transaction((tx) => {
        quotas.reserve('alice', 'second', { ...needs, diskGiB: 1, interfaces: 1 });
        quotas.placed('second', hosts.placeOn(admin, order[0]!, needs), tx);
      }),
    /no host has room: hv1 cannot take 1 vCPUs \(0 of 1 free\)/,
  );
  assert.equal(quotas.usage('alice').domains, 1, 'the refused create reserved nothing');
  assert.deepEqual(hosts.candidates(alice, needs), [ids.hv2, ids.hv1], 'read again: hv2 first, the full one last');
});
