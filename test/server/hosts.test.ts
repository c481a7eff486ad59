import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { addTenant, eventually } from '../helpers/tenants.js';
import { collect, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';

const HOST = `id name state draining hostname cpus memoryMiB use { domains activeDomains vcpus memoryMiB }`;
const CREATE = `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename
  ... on CreateDomainSuccess { domain { id state host { id } } } ... on Error { code message } } }`;
const DRAIN = `mutation($id: ID!, $d: Boolean!) { setHostDraining(id: $id, draining: $d) { __typename
  ... on SetHostDrainingSuccess { host { id state draining } } ... on Error { code message } } }`;
const QUOTA = { maxDomains: 5, maxVcpus: 10, maxMemoryMiB: 4096, maxDiskGiB: 50, maxInterfaces: 5 };

/** Hosts as the operator sees them, with the one host the server runs beside (test driver). */
describe('hosts: the one host, its use, draining', () => {
  let s: TestServer;
  let tenant: { id: string; token: string };
  // Kept across the restart in the last test.
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-hosts-'));
  const hosts = async (token?: string) => s.gql(`{ hosts(first: 10) { totalCount edges { node { ${HOST} } } } }`, {}, token);
  const theHost = async () => {
    const r = await hosts();
    assert.equal(r.data.hosts.totalCount, 1, JSON.stringify(r));
    return r.data.hosts.edges[0].node;
  };
  const create = (name: string, token?: string) =>
    s.gql(CREATE, { i: { name, vcpus: 2, memoryMiB: 256, diskGiB: 1, network: 'default', start: true } }, token);

  before(async () => {
    s = await startTestServer({ dataDir });
    tenant = addTenant(s.dataDir, 'tina');
    const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: (await s.gql(`{ users { edges { node { id name } } } }`)).data.users.edges.find((e: any) => e.node.name === 'tina').node.id,
      q: QUOTA,
    });
    assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess');
  });
  after(async () => {
    await s?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('an admin sees the host libvirt reports, UP, with the use of every domain on it', async () => {
    const host = await theHost();
    const libvirt = (await s.gql(`{ host { hostname cpus memoryMiB } }`)).data.host;
    assert.equal(host.name, libvirt.hostname, 'the first host is named after its hostname');
    assert.equal(host.state, 'UP');
    assert.equal(host.draining, false);
    assert.ok(host.cpus > 0 && host.memoryMiB > 0, JSON.stringify(host));
    // The test driver's own domain runs from the start.
    const before = host.use;
    const made = await create('on-host', tenant.token);
    assert.equal(made.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(made));
    const after = (await theHost()).use;
    assert.deepEqual(after, {
      domains: before.domains + 1,
      activeDomains: before.activeDomains + 1,
      vcpus: before.vcpus + 2,
      memoryMiB: before.memoryMiB + 256,
    });
    assert.equal(made.data.createDomain.domain.host, null, 'a tenant is not told which host');
    const asAdmin = await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { host { id } } } }`, {
      id: made.data.createDomain.domain.id,
    });
    assert.equal(asAdmin.data.node.host.id, host.id);
    const net = await s.gql(`{ networks { edges { node { name host { id } } } } }`);
    assert.equal(net.data.networks.edges.find((e: any) => e.node.name === 'default').node.host.id, host.id);
  });

  test('an admin may name the host of a new guest: it is created there; a host not served, or a tenant naming one, NOT_FOUND', async () => {
    const host = await theHost();
    const input = (name: string, hostId: string) => ({
      i: { name, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', host: hostId },
    });
    const pinned = await s.gql(CREATE, input('pinned', host.id));
    assert.equal(pinned.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(pinned));
    assert.equal(pinned.data.createDomain.domain.host.id, host.id);
    const elsewhere = await s.gql(CREATE, input('elsewhere', Buffer.from('Host:999').toString('base64')));
    assert.deepEqual(
      [elsewhere.data.createDomain.__typename, elsewhere.data.createDomain.code],
      ['NotFoundError', 'NOT_FOUND'],
      JSON.stringify(elsewhere),
    );
    const forged = await s.gql(CREATE, input('forged', Buffer.from(`Domain:${host.id}`).toString('base64')));
    assert.equal(forged.data.createDomain.code, 'NOT_FOUND', 'an ID of another type names no host');
    const byTenant = await s.gql(CREATE, input('by-tenant', host.id), tenant.token);
    assert.equal(byTenant.data.createDomain.code, 'NOT_FOUND', "a tenant places nothing: hosts are admins' objects");
    const drain = await s.gql(DRAIN, { id: host.id, d: true });
    assert.equal(drain.data.setHostDraining.__typename, 'SetHostDrainingSuccess');
    try {
      const refused = await s.gql(CREATE, input('pinned-draining', host.id));
      assert.equal(refused.data.createDomain.code, 'NO_HOST_AVAILABLE', JSON.stringify(refused));
    } finally {
      await s.gql(DRAIN, { id: host.id, d: false });
    }
    const del = await s.gql(`mutation($id: ID!) { deleteDomain(id: $id) { __typename } }`, { id: pinned.data.createDomain.domain.id });
    assert.equal(del.data.deleteDomain.__typename, 'DeleteDomainSuccess');
  });

  test('a tenant learns nothing of hosts beyond what `host` always showed', async () => {
    const host = await theHost();
    const list = await hosts(tenant.token);
    assert.equal(list.errors?.[0]?.extensions?.code, 'FORBIDDEN', JSON.stringify(list));
    const node = await s.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: host.id }, tenant.token);
    assert.equal(node.data.node, null);
    const own = await s.gql(`{ host { name hostname use { domains } } }`, {}, tenant.token);
    assert.deepEqual(own.data.host, { name: host.name, hostname: host.hostname, use: null }, 'no count of other tenants’ domains');
    const nets = await s.gql(`{ networks { edges { node { host { id } } } } }`, {}, tenant.token);
    for (const e of nets.data.networks.edges) assert.equal(e.node.host, null);
    const drain = await s.gql(DRAIN, { id: host.id, d: true }, tenant.token);
    assert.deepEqual(drain.data.setHostDraining, {
      __typename: 'ForbiddenError',
      code: 'FORBIDDEN',
      message: drain.data.setHostDraining.message,
    });
    assert.equal((await theHost()).draining, false, 'nothing changed');
  });

  test('a draining host takes no new guest (nothing reserved), keeps its guests, and takes them again once undrained', async () => {
    const host = await theHost();
    const usage = async () =>
      (await s.gql(`{ viewer { quota { usage { domains vcpus memoryMiB } } } }`, {}, tenant.token)).data.viewer.quota.usage;
    const held = await usage();
    const drained = await s.gql(DRAIN, { id: host.id, d: true });
    assert.deepEqual(drained.data.setHostDraining, {
      __typename: 'SetHostDrainingSuccess',
      host: { id: host.id, state: 'DRAINING', draining: true },
    });
    const refused = await create('while-draining', tenant.token);
    assert.equal(refused.data.createDomain.__typename, 'NoHostAvailableError', JSON.stringify(refused));
    assert.equal(refused.data.createDomain.code, 'NO_HOST_AVAILABLE');
    assert.equal(
      refused.data.createDomain.message,
      'no host takes new guests right now; try again later',
      'a tenant is not told the host’s name or why',
    );
    const asAdmin = await create('admin-while-draining');
    assert.equal(asAdmin.data.createDomain.message, `no host takes new guests: ${host.name} is draining`);
    assert.deepEqual(await usage(), held, 'the refused create reserved nothing');
    const names = (await s.gql(`{ domains(first: 100) { edges { node { name state } } } }`, {}, tenant.token)).data.domains.edges.map(
      (e: any) => e.node,
    );
    assert.deepEqual(names, [{ name: 'on-host', state: 'RUNNING' }], 'the guest already there runs on; no new one appeared');
    const unknown = await s.gql(DRAIN, { id: 'SG9zdDo5OTk=', d: true }); // Host:999
    assert.equal(unknown.data.setHostDraining.__typename, 'NotFoundError', JSON.stringify(unknown));
    const undrained = await s.gql(DRAIN, { id: host.id, d: false });
    assert.equal(undrained.data.setHostDraining.host.state, 'UP');
    const made = await create('after-draining', tenant.token);
    assert.equal(made.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(made));
  });

  test('the host keeps its id, name and draining across a restart', async () => {
    const host = await theHost();
    await s.gql(DRAIN, { id: host.id, d: true });
    await s.stop();
    s = await startTestServer({ dataDir });
    const again = await theHost();
    assert.deepEqual(
      { id: again.id, name: again.name, draining: again.draining, state: again.state },
      {
        id: host.id,
        name: host.name,
        draining: true,
        state: 'DRAINING',
      },
    );
  });
});

describe('hosts: placement within capacity (allocation ratios)', () => {
  let s: TestServer;
  let tenant: { id: string; token: string };
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-capacity-'));
  let room: { vcpus: number; memoryMiB: number };
  const host = async () => (await s.gql(`{ hosts { edges { node { ${HOST} capacity { vcpus memoryMiB } } } } }`)).data.hosts.edges[0].node;
  /** As the tenant, or as the admin (`as` null). */
  const create = (name: string, vcpus: number, memoryMiB: number, as: string | null = tenant.token) =>
    s.gql(CREATE, { i: { name, vcpus, memoryMiB, diskGiB: 1, network: 'default', start: true } }, as ?? undefined);

  before(async () => {
    // The test driver's figures (and its own domain's use) first; then the ratios that leave room for exactly
    // 4 more vCPUs and 600 MiB.
    s = await startTestServer({ dataDir });
    const first = await host();
    assert.deepEqual(first.capacity, { vcpus: null, memoryMiB: null }, 'not limited by default');
    await s.stop();
    room = { vcpus: first.use.vcpus + 4, memoryMiB: first.use.memoryMiB + 600 };
    s = await startTestServer({
      dataDir,
      placement: {
        cpuAllocationRatio: (room.vcpus + 0.5) / first.cpus,
        memoryAllocationRatio: (room.memoryMiB + 0.5) / first.memoryMiB,
      },
    });
    tenant = addTenant(dataDir, 'tom');
    const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: (await s.gql(`{ users { edges { node { id name } } } }`)).data.users.edges.find((e: any) => e.node.name === 'tom').node.id,
      q: { maxDomains: 20, maxVcpus: 100, maxMemoryMiB: 100_000, maxDiskGiB: 100, maxInterfaces: 20 },
    });
    assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess');
  });
  after(async () => {
    await s?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('concurrent creates take the room exactly: never more vCPUs placed than the capacity', async () => {
    assert.deepEqual((await host()).capacity, room);
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => create(`c${i}`, 2, 256)));
    const kinds = results.map((r) => r.data.createDomain.__typename).sort();
    assert.deepEqual(kinds, [
      'CreateDomainSuccess',
      'CreateDomainSuccess',
      'NoHostAvailableError',
      'NoHostAvailableError',
      'NoHostAvailableError',
    ]);
    const refused = results.find((r) => r.data.createDomain.__typename === 'NoHostAvailableError')!.data.createDomain;
    assert.equal(
      refused.message,
      'no host has room for this guest right now; try a smaller one, or again later',
      'a tenant learns nothing of how full the host is (that is other tenants’ guests)',
    );
    const asAdmin = await create('admin-c', 2, 256, null);
    assert.match(asAdmin.data.createDomain.message, /cannot take 2 vCPUs \(0 of \d+ free\)/);
    const after = await host();
    assert.equal(after.use.vcpus, room.vcpus, 'full, not over');
    // A tenant without any quota gets QUOTA_EXCEEDED whatever it asks: which error comes back tells nothing of the room.
    const nobody = addTenant(dataDir, 'nobody');
    for (const vcpus of [1, 4]) {
      const probe = await s.gql(
        CREATE,
        { i: { name: `probe${vcpus}`, vcpus, memoryMiB: 256, diskGiB: 1, network: 'default' } },
        nobody.token,
      );
      assert.equal(probe.data.createDomain.__typename, 'QuotaExceededError', JSON.stringify(probe));
    }
    const usage = (await s.gql(`{ viewer { quota { usage { domains vcpus } } } }`, {}, tenant.token)).data.viewer.quota.usage;
    assert.deepEqual(usage, { domains: 2, vcpus: 4 }, 'refused creates hold no quota');
  });

  test('a resize that grows past the room is refused; freed room is placed again, memory counted too', async () => {
    const mine = (await s.gql(`{ domains { edges { node { id name } } } }`, {}, tenant.token)).data.domains.edges.map((e: any) => e.node);
    const [a, b] = mine;
    const stop = await s.gql(`mutation($id: ID!) { destroyDomain(id: $id) { __typename } }`, { id: a.id }, tenant.token);
    assert.equal(stop.data.destroyDomain.__typename, 'DomainActionSuccess');
    const resize = await s.gql(
      `mutation($id: ID!, $i: ResizeDomainInput!) { resizeDomain(id: $id, input: $i) { __typename ... on Error { code message } } }`,
      { id: a.id, i: { vcpus: 3 } },
      tenant.token,
    );
    assert.equal(resize.data.resizeDomain.code, 'NO_HOST_AVAILABLE', JSON.stringify(resize));
    const deleted = await s.gql(`mutation($id: ID!) { deleteDomain(id: $id) { __typename } }`, { id: b.id }, tenant.token);
    assert.equal(deleted.data.deleteDomain.__typename, 'DeleteDomainSuccess');
    // 2 vCPUs and 600 - 256 = 344 MiB free now.
    const tooBig = await create('big', 1, 512, null);
    assert.equal(tooBig.data.createDomain.__typename, 'NoHostAvailableError', JSON.stringify(tooBig));
    assert.match(tooBig.data.createDomain.message, /512 MiB \(344 of \d+ free\)/);
    const fits = await create('fits', 2, 256);
    assert.equal(fits.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(fits));
  });
});

describe('hosts: state changes in the one event log', () => {
  let s: TestServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-host-events-'));
  const HOST_EVENTS = `subscription($after: String, $types: [HostState!]) { hostEvents(after: $after, types: $types) {
    cursor type detail draining synthetic hostName host { id name state } } }`;
  const DRAIN = `mutation($id: ID!, $d: Boolean!) { setHostDraining(id: $id, draining: $d) { __typename } }`;
  const hostId = async () => (await s.gql(`{ hosts { edges { node { id } } } }`)).data.hosts.edges[0].node.id as string;
  /** The cursor of the newest domain event: a place in the one log to resume from. */
  const newestCursor = async () => {
    const page = await s.gql(`{ events(first: 100) { edges { cursor } } }`);
    return page.data.events.edges.at(-1).cursor as string;
  };
  const libvirtDbusPid = () => {
    const recorded = JSON.parse(readFileSync(join(dataDir, 'run', 'pids.json'), 'utf8'));
    return (recorded.children?.['libvirt-dbus']?.pid ?? recorded['libvirt-dbus']) as number;
  };

  before(async () => {
    s = await startTestServer({ dataDir });
  });
  after(async () => {
    await s?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('draining and a restart: replayed from a cursor, no STARTUP event when nothing changed while down', async () => {
    // A domain event after the first start's own host event, as a place to resume from.
    const id = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');
    assert.equal(
      (await s.gql(`mutation($id: ID!) { destroyDomain(id: $id) { __typename } }`, { id })).data.destroyDomain.__typename,
      'DomainActionSuccess',
    );
    const anchor = await eventually(
      async () => ((await s.gql(`{ events { totalCount } }`)).data.events.totalCount > 0 ? newestCursor() : null),
      'a domain event',
    );
    const host = await hostId();
    assert.equal((await s.gql(DRAIN, { id: host, d: true })).data.setHostDraining.__typename, 'SetHostDrainingSuccess');
    await s.stop();
    s = await startTestServer({ dataDir });

    const events = collect(s.ws(), HOST_EVENTS, { after: anchor });
    const [drained] = (await events.next(1)).map((e: any) => e.hostEvents);
    assert.deepEqual(
      { type: drained.type, detail: drained.detail, draining: drained.draining, synthetic: drained.synthetic, host: drained.host.id },
      { type: 'DRAINING', detail: 'DRAIN_SET', draining: true, synthetic: false, host },
    );
    // Live from here: the drain cleared.
    assert.equal((await s.gql(DRAIN, { id: host, d: false })).data.setHostDraining.__typename, 'SetHostDrainingSuccess');
    const [cleared] = (await events.next(2)).slice(1).map((e: any) => e.hostEvents);
    assert.deepEqual([cleared.type, cleared.detail, cleared.draining], ['UP', 'DRAIN_CLEARED', false]);
    assert.equal(events.items.length, 2, 'the restart added no STARTUP event: the host was as its last event says');
    events.unsubscribe();
  });

  test('libvirt-dbus killed: the host goes DOWN and comes back UP, each once, in order', async () => {
    // A domain event now: its cursor is past every host event so far.
    const id = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');
    const state = (await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { state } } }`, { id })).data.node.state;
    const action = state === 'RUNNING' ? 'destroyDomain' : 'startDomain';
    const acted = await s.gql(`mutation($id: ID!) { r: ${action}(id: $id) { __typename } }`, { id });
    assert.equal(acted.data.r.__typename, 'DomainActionSuccess');
    const events = collect(s.ws(), HOST_EVENTS, { after: await newestCursor() });
    process.kill(libvirtDbusPid(), 'SIGKILL');
    const [down, up] = (await events.next(2, 60_000)).map((e: any) => e.hostEvents);
    assert.deepEqual([down.type, down.detail, down.synthetic], ['DOWN', 'LIBVIRT_LOST', false]);
    assert.deepEqual([up.type, up.detail], ['UP', 'LIBVIRT_BACK']);
    const now = (await s.gql(`{ hosts { edges { node { state } } } }`)).data.hosts.edges[0].node.state;
    assert.equal(now, 'UP');
    events.unsubscribe();
  });

  test('tenants cannot subscribe to host events', async () => {
    const tenant = addTenant(dataDir, 'ted');
    const events = collect(s.ws(tenant.token), HOST_EVENTS);
    await eventually(async () => (events.errors.length ? true : null), 'the refusal');
    assert.match(JSON.stringify(events.errors), /FORBIDDEN/);
  });
});
