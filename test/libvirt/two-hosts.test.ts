import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { HostRuntime } from '../../src/host-runtime.js';
import type { DomainLifecycleEvent } from '../../src/model/index.js';
import { QuotaExceededError } from '../../src/services/errors.js';
import { startFleet, type ComposedFleet } from '../helpers/fleet.js';

/**
 * Two hosts under one control plane, each a private bus with its own libvirt-dbus (test driver): one database,
 * one event log, one quota, placement over both, creates through the fleet (test/helpers/fleet.ts).
 */
const TEST_UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f';
const admin = { userId: 'admin', name: 'admin', role: 'ADMIN', tokenId: 't' } as const;

let c: ComposedFleet;
let stacks: ComposedFleet['stacks'];

before(async () => {
  // 16 vCPUs on each host (the test driver reports 8 CPUs; its own `test` domain holds 2 of them): room for
  // 14 guests of one vCPU each, so 25 take both hosts.
  c = await startFleet(2, { cpuAllocationRatio: 2, memoryAllocationRatio: null });
  stacks = c.stacks;
});

after(async () => {
  await c?.stop();
});

test("each host's built-in `test` domain is its own: two domains of one UUID, each in its host's cache and known state", () => {
  const [one, two] = c.runtimes;
  assert.ok(one!.cache.domains.has(TEST_UUID) && two!.cache.domains.has(TEST_UUID), 'both hosts have it');
  assert.notEqual(one!.id, two!.id);
  for (const rt of c.runtimes) {
    assert.deepEqual(
      c.log.loadKnown(rt.id)?.domains.map((d) => [d.uuid, d.hostId]),
      [[TEST_UUID, rt.id]],
      `host ${rt.id} knows its own, marked as its own`,
    );
    assert.equal(rt.cache.domains.get(TEST_UUID)!.hostId, rt.id);
    assert.equal(c.hosts.ofObject(admin, rt.cache.domains.get(TEST_UUID)!)?.name, `hv${c.runtimes.indexOf(rt) + 1}`, 'Domain.host');
    assert.equal(c.hosts.ofObject(admin, [...rt.cache.networks.values()][0]!)?.id, String(rt.id), 'Network.host');
  }
  assert.deepEqual(
    c.hosts.list(admin).map((h) => [h.name, h.state, c.hosts.useOf(admin, h.id)?.domains]),
    [
      ['hv1', 'UP', 1],
      ['hv2', 'UP', 1],
    ],
  );
});

test('40 concurrent creates by one tenant with a limit of 25 give exactly 25, spread over both hosts, each in its host', async () => {
  const tenant = c.users.create(admin, { name: `t-${randomUUID().slice(0, 8)}`, role: 'TENANT' });
  c.quotas.set(admin, tenant.id, { maxDomains: 25, maxVcpus: 100, maxMemoryMiB: 100_000, maxDiskGiB: 100, maxInterfaces: 100 });
  const viewer = { userId: tenant.id, name: tenant.name, role: 'TENANT', tokenId: 't' } as const;
  const after = c.log.lastId();
  const outcomes = await Promise.allSettled(
    Array.from({ length: 40 }, (_, i) =>
      c.fleet.create(viewer, { name: `vm${i}`, vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'default', start: true }),
    ),
  );
  const made = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
  assert.equal(made.length, 25, `refusals: ${[...new Set(refused.map((e) => e.message))].join('; ')}`);
  assert.ok(
    refused.every((e) => e instanceof QuotaExceededError),
    'the rest are refused by the quota',
  );
  const perHost = c.runtimes.map((rt) => made.filter((m) => m.hostId === rt.id).length);
  assert.ok(
    perHost.every((n) => n > 0),
    `spread over both: ${perHost.join(' + ')}`,
  );
  for (const h of c.hosts.list(admin)) {
    assert.equal(h.capacity.vcpus, 16);
    assert.ok(c.hosts.useOf(admin, h.id)!.vcpus <= 16, `${h.name} within its capacity`);
  }
  for (const m of made) {
    const rt = c.runtimes.find((r) => r.id === m.hostId)!;
    assert.ok(rt.cache.domains.has(m.domain.uuid), `${m.domain.name} is in its host's libvirt`);
    const other = c.runtimes.find((r) => r.id !== m.hostId)!;
    assert.ok(!other.cache.domains.has(m.domain.uuid), `${m.domain.name} is in no other host's`);
  }
  assert.equal(c.quotas.usage(tenant.id).domains, 25);

  // One subscription, resumed from a cursor taken before the creates, sees both hosts' events once each.
  const seen: DomainLifecycleEvent[] = [];
  const sub = c.stream.subscribe<DomainLifecycleEvent>({ kind: 'DOMAIN', after, sql: {}, accept: () => true });
  for (;;) {
    const next = await Promise.race([sub.next(), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
    if (!next || next.done) break;
    seen.push(next.value);
  }
  await sub.return?.();
  const defined = seen.filter((e) => e.type === 'DEFINED');
  assert.deepEqual(
    new Set(defined.map((e) => `${e.hostId}/${e.domain.uuid}`)),
    new Set(made.map((m) => `${m.hostId}/${m.domain.uuid}`)),
    'every create announced once, from its own host',
  );
  assert.equal(defined.length, 25, 'no duplicate');
  assert.deepEqual(
    seen.map((e) => e.seq),
    [...seen.map((e) => e.seq)].sort((a, b) => a - b),
    'in cursor order',
  );

  // A delete on the second host frees its quota: the next create gets a place.
  const onTwo = made.find((m) => m.hostId === c.runtimes[1]!.id)!;
  await c.provisioning[1]!.delete(viewer, onTwo.domain.uuid, false);
  assert.equal(c.quotas.usage(tenant.id).domains, 24);
  const again = await c.fleet.create(viewer, { name: 'again', vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'default' });
  assert.ok(
    c.runtimes.some((r) => r.id === again.hostId),
    'placed',
  );

  // Gone again, each from its own host: the hosts are as they were.
  for (const m of [...made.filter((m) => m !== onTwo), again]) {
    await c.provisioning[c.runtimes.findIndex((r) => r.id === m.hostId)]!.delete(viewer, m.domain.uuid, false);
  }
  assert.equal(c.quotas.usage(tenant.id).domains, 0);
});

/** Polls until `check` holds (a host's state follows its libvirt's signals). */
async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a host's libvirt-dbus killed: it goes DOWN, creates land on the other, and when it returns its losses are reconciled", async () => {
  const tenant = c.users.create(admin, { name: `k-${randomUUID().slice(0, 8)}`, role: 'TENANT' });
  c.quotas.set(admin, tenant.id, { maxDomains: 10, maxVcpus: 10, maxMemoryMiB: 10_000, maxDiskGiB: 100, maxInterfaces: 10 });
  const viewer = { userId: tenant.id, name: tenant.name, role: 'TENANT', tokenId: 't' } as const;
  const input = (name: string) => ({ name, vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'default' });
  const [one, two] = c.runtimes as [HostRuntime, HostRuntime];
  // One guest on each host first (placement spreads them: equally full, the second goes to the other).
  const a = await c.fleet.create(viewer, input('a'));
  const b = await c.fleet.create(viewer, input('b'));
  assert.notEqual(a.hostId, b.hostId, 'one on each host');
  const onTwo = a.hostId === two.id ? a : b;
  const onOne = a.hostId === one.id ? a : b;

  stacks[1]!.stack.pauseRestarts(true);
  const killed = stacks[1]!.stack.libvirtDbusPid()!;
  process.kill(killed, 'SIGKILL');
  // Reaped (its exit seen by the stack, which then restarts it when resumed), not only signalled.
  await until('the killed libvirt-dbus reaped', () => !existsSync(`/proc/${killed}`));
  const state = (id: number) => c.hosts.find(admin, String(id))!.state;
  await until('hv2 DOWN', () => state(two.id) === 'DOWN');
  assert.equal(state(one.id), 'UP');
  const during = await Promise.all(['c', 'd', 'e'].map((n) => c.fleet.create(viewer, input(n))));
  assert.deepEqual(
    during.map((m) => m.hostId),
    [one.id, one.id, one.id],
    'placement skips the DOWN host',
  );
  assert.equal(c.quotas.usage(tenant.id).domains, 5);

  // The test driver keeps its domains in libvirt-dbus's memory: the host comes back without `b`.
  stacks[1]!.stack.pauseRestarts(false);
  await until('hv2 UP', () => state(two.id) === 'UP');
  await until('the lost guest released', () => c.quotas.usage(tenant.id).domains === 4);
  assert.ok(!two.cache.domains.has(onTwo.domain.uuid), 'gone from its host');
  assert.ok(one.cache.domains.has(onOne.domain.uuid), "the other host's guests are untouched");
  for (const m of during) assert.ok(one.cache.domains.has(m.domain.uuid), `${m.domain.name} still on hv1`);
  const hostEvents = c.log.read(0, { kind: 'HOST', hostId: two.id }, 100).map((r) => [r.type, r.detail]);
  assert.deepEqual(hostEvents.slice(-2), [
    ['DOWN', 'LIBVIRT_LOST'],
    ['UP', 'LIBVIRT_BACK'],
  ]);
  const undefinedOnTwo = c.log.read(0, { kind: 'DOMAIN', subjectUuid: onTwo.domain.uuid, hostId: two.id, types: ['UNDEFINED'] }, 10);
  assert.equal(undefinedOnTwo.length, 1, "its loss announced once, as its own host's");
  assert.equal(undefinedOnTwo[0]!.synthetic, true);
});
