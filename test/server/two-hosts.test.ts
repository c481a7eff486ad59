import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLibvirtStack } from '../helpers/libvirt-stack.js';
import { collect, startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant } from '../helpers/tenants.js';

/**
 * One server serving two hosts (VIRTPLANE_HOSTS): its own embedded private bus and a second one with its own
 * libvirt-dbus (test driver), reached only through the API.
 */
const TEST_UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f';
const CREATE = `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename
  ... on CreateDomainSuccess { domain { id } } ... on Error { code message } } }`;
const DOMAINS = `query($f: DomainFilter) { domains(first: 100, filter: $f) { totalCount
  edges { cursor node { id uuid name state host { name } interfaces { network { id name host { name } } } } } } }`;

describe('one server, two hosts', () => {
  let hv2: Awaited<ReturnType<typeof startLibvirtStack>>;
  let s: TestServer;
  // Kept for the restart without hv2 (the last test).
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-two-hosts-'));

  before(async () => {
    hv2 = await startLibvirtStack();
    // 16 vCPUs on each host (the test driver reports 8 CPUs; its `test` domain holds 2): 14 one-vCPU guests
    // fit on each, so 25 need both.
    s = await startTestServer({
      dataDir,
      otherHosts: [{ name: 'hv2', bus: { kind: 'address', address: hv2.stack.address } }],
      placement: { cpuAllocationRatio: 2, memoryAllocationRatio: null },
    });
  });
  after(async () => {
    await s?.stop();
    await hv2?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const domains = async (filter: Record<string, unknown> = {}) => {
    const r = await s.gql(DOMAINS, { f: filter });
    assert.ok(r.data, JSON.stringify(r));
    return r.data.domains;
  };
  /** The cursor of the last domain event in the log: a stream resumed from it carries what comes after. */
  const lastCursor = async () => {
    let cursor: string | null = null;
    for (;;) {
      const page: any = await s.gql(`query($a: String) { events(first: 1000, after: $a) { pageInfo { endCursor hasNextPage } } }`, {
        a: cursor,
      });
      cursor = page.data.events.pageInfo.endCursor ?? cursor;
      if (!page.data.events.pageInfo.hasNextPage) return cursor;
    }
  };
  const hostOf = async (id: string) =>
    (await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { host { name } } } }`, { id })).data.node;

  test("each host's built-in `test` domain is its own domain, with its own ID, acted on on its own host", async () => {
    const hosts = (await s.gql(`{ hosts(first: 10) { edges { node { name state } } } }`)).data.hosts.edges.map((e: any) => e.node);
    assert.equal(hosts.length, 2, JSON.stringify(hosts));
    assert.deepEqual(
      hosts.map((h: any) => h.state),
      ['UP', 'UP'],
    );
    assert.equal(hosts[1].name, 'hv2');
    const local = hosts[0].name as string;

    const both = await domains({ nameContains: 'test' });
    assert.equal(both.totalCount, 2, JSON.stringify(both));
    const [a, b] = both.edges.map((e: any) => e.node);
    assert.equal(a.uuid, TEST_UUID);
    assert.equal(b.uuid, TEST_UUID, 'the same UUID on both');
    assert.notEqual(a.id, b.id, 'two IDs');
    assert.deepEqual([a.host.name, b.host.name], [local, 'hv2'], 'in connection order: the local host first');
    assert.notEqual(both.edges[0].cursor, both.edges[1].cursor);
    // Paging after the first lands on the second, not on the first again.
    const page = await s.gql(
      `query($a: String) { domains(first: 1, after: $a, filter: { nameContains: "test" }) { edges { node { id } } } }`,
      {
        a: both.edges[0].cursor,
      },
    );
    assert.deepEqual(
      page.data.domains.edges.map((e: any) => e.node.id),
      [b.id],
    );
    for (const d of [a, b]) {
      assert.deepEqual(await hostOf(d.id), { host: d.host }, 'node(id) finds it on its own host');
      assert.equal(d.interfaces[0].network.host.name, d.host.name, "its NIC's network is its host's");
    }
    const nets = (await s.gql(`{ networks(first: 10) { edges { node { id name host { name } } } } }`)).data.networks.edges.map(
      (e: any) => e.node,
    );
    const defaults = nets.filter((n: any) => n.name === 'default');
    assert.deepEqual(
      defaults.map((n: any) => n.host.name),
      [local, 'hv2'],
      'each host its own `default` network',
    );
    assert.notEqual(defaults[0].id, defaults[1].id);
    assert.equal(a.interfaces[0].network.id, defaults[0].id);
    assert.equal(b.interfaces[0].network.id, defaults[1].id);

    // Forced off on hv2: only hv2's `test` stops.
    const off = await s.gql(
      `mutation($id: ID!) { destroyDomain(id: $id) { __typename ... on DomainActionSuccess { domain { id state } } ... on Error { code } } }`,
      {
        id: b.id,
      },
    );
    assert.deepEqual(off.data.destroyDomain, { __typename: 'DomainActionSuccess', domain: { id: b.id, state: 'SHUTOFF' } });
    const after = (await domains({ nameContains: 'test' })).edges.map((e: any) => [e.node.host.name, e.node.state]);
    assert.deepEqual(after, [
      [local, 'RUNNING'],
      ['hv2', 'SHUTOFF'],
    ]);
    const on = await s.gql(`mutation($id: ID!) { startDomain(id: $id) { __typename } }`, { id: b.id });
    assert.equal(on.data.startDomain.__typename, 'DomainActionSuccess');

    // Consoles are the local host's only yet: a typed refusal for hv2's guest, and to a tenant who does not
    // see it, the NOT_FOUND of any ID.
    const ROTATE = `mutation($id: ID!) { rotateConsolePassword(id: $id) { __typename ... on Error { code } } }`;
    assert.deepEqual((await s.gql(ROTATE, { id: b.id })).data.rotateConsolePassword, {
      __typename: 'UnsupportedError',
      code: 'UNSUPPORTED',
    });
    const stranger = addTenant(s.dataDir, 'stranger');
    assert.deepEqual((await s.gql(ROTATE, { id: b.id }, stranger.token)).data.rotateConsolePassword, {
      __typename: 'NotFoundError',
      code: 'NOT_FOUND',
    });

    // Owners, reservations and addresses are kept by UUID: neither `test` is deleted or handed on, so nothing
    // done to one reaches the other; to a tenant who does not see it, NOT_FOUND as ever.
    const DELETE = `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code } } }`;
    const ASSIGN = `mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on Error { code } } }`;
    const conflict = { __typename: 'ConflictError', code: 'CONFLICT' };
    assert.deepEqual((await s.gql(DELETE, { id: b.id })).data.deleteDomain, conflict);
    assert.deepEqual(
      (await s.gql(ASSIGN, { id: a.id, u: Buffer.from(`User:${stranger.id}`).toString('base64') })).data.assignDomain,
      conflict,
    );
    assert.deepEqual((await s.gql(DELETE, { id: b.id }, stranger.token)).data.deleteDomain, {
      __typename: 'NotFoundError',
      code: 'NOT_FOUND',
    });
    const spoof = `mutation($id: ID!) { setNetworkAntiSpoofing(id: $id, enabled: false) { __typename ... on Error { code } } }`;
    assert.deepEqual((await s.gql(spoof, { id: defaults[1].id })).data.setNetworkAntiSpoofing, conflict);
    assert.equal((await domains({ nameContains: 'test' })).totalCount, 2, 'both still there');
  });

  test('a network is made on the host an admin names, and a guest on it goes to that host', async () => {
    const hosts = (await s.gql(`{ hosts(first: 10) { edges { node { id name } } } }`)).data.hosts.edges.map((e: any) => e.node);
    const NET = `mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename
      ... on CreateNetworkSuccess { network { id name active host { name } } } ... on Error { code } } }`;
    const input = {
      name: 'only-hv2',
      forwardMode: 'ISOLATED',
      bridge: 'vp-only-hv2',
      ipv4: { address: '203.0.113.1', prefix: 24 },
      start: true,
    };
    const unserved = Buffer.from('Host:999').toString('base64');
    assert.deepEqual((await s.gql(NET, { i: { ...input, host: unserved } })).data.createNetwork, {
      __typename: 'NotFoundError',
      code: 'NOT_FOUND',
    });
    const made = (await s.gql(NET, { i: { ...input, host: hosts[1].id } })).data.createNetwork;
    assert.equal(made.__typename, 'CreateNetworkSuccess', JSON.stringify(made));
    assert.deepEqual(made.network.host, { name: 'hv2' });
    const tenant = addTenant(s.dataDir, 'netuser');
    const quota = { maxDomains: 2, maxVcpus: 2, maxMemoryMiB: 1024, maxDiskGiB: 10, maxInterfaces: 2 };
    await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: Buffer.from(`User:${tenant.id}`).toString('base64'),
      q: quota,
    });
    const vm = await s.gql(CREATE, { i: { name: 'on-net', vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'only-hv2' } }, tenant.token);
    assert.equal(vm.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(vm));
    assert.deepEqual(await hostOf(vm.data.createDomain.domain.id), { host: { name: 'hv2' } }, 'where its network is');
    const del = await s.gql(
      `mutation($id: ID!) { deleteDomain(id: $id) { __typename } }`,
      { id: vm.data.createDomain.domain.id },
      tenant.token,
    );
    assert.equal(del.data.deleteDomain.__typename, 'DeleteDomainSuccess');
    // Its events, followed by its ID from a cursor taken after its guest's: the delete's own.
    const cursor = await lastCursor();
    const gone = await s.gql(`mutation($id: ID!) { deleteNetwork(id: $id) { __typename } }`, { id: made.network.id });
    assert.equal(gone.data.deleteNetwork.__typename, 'DeleteNetworkSuccess');
    const client = s.ws();
    const q = `subscription($n: ID, $a: String) { networkEvents(networkId: $n, after: $a) { type network { id } } }`;
    const events = collect(client, q, { n: made.network.id, a: cursor });
    try {
      const seen = await events.next(2);
      assert.deepEqual(
        seen.map((e: any) => [e.networkEvents.type, e.networkEvents.network.id]),
        [
          ['STOPPED', made.network.id],
          ['UNDEFINED', made.network.id],
        ],
      );
    } finally {
      events.unsubscribe();
      await client.dispose();
    }
  });

  test('40 concurrent creates of one tenant with a limit of 25 give exactly 25 over both hosts; one stream sees each once; a delete on hv2 frees the quota', async () => {
    const u = await s.gql(`mutation { createUser(input: { name: "tess", role: TENANT }) { ... on CreateUserSuccess { user { id } } } }`);
    const userId = u.data.createUser.user.id as string;
    const t = await s.gql(`mutation($u: ID!) { createApiToken(userId: $u, label: "t") { ... on CreateApiTokenSuccess { token } } }`, {
      u: userId,
    });
    const token = t.data.createApiToken.token as string;
    const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: userId,
      q: { maxDomains: 25, maxVcpus: 100, maxMemoryMiB: 100_000, maxDiskGiB: 100, maxInterfaces: 100 },
    });
    assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess');

    // A cursor from before the creates: the stream resumed from it must carry each of them once.
    const cursor = await lastCursor();

    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        s.gql(CREATE, { i: { name: `vm${i}`, vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'default', start: true } }, token),
      ),
    );
    const answers = results.map((r) => r.data?.createDomain ?? r.errors);
    const made = answers.filter((a: any) => a.__typename === 'CreateDomainSuccess').map((a: any) => a.domain.id as string);
    assert.equal(made.length, 25, JSON.stringify(answers.filter((a: any) => a.__typename !== 'CreateDomainSuccess')));
    assert.ok(
      answers.every((a: any) => a.__typename === 'CreateDomainSuccess' || a.code === 'QUOTA_EXCEEDED'),
      'the rest are refused by the quota',
    );
    const mine = await domains({ nameContains: 'vm' });
    const perHost = new Map<string, number>();
    for (const e of mine.edges) perHost.set(e.node.host.name, (perHost.get(e.node.host.name) ?? 0) + 1);
    assert.equal(perHost.size, 2, `spread over both hosts: ${JSON.stringify([...perHost])}`);
    const use = (await s.gql(`{ hosts(first: 10) { edges { node { name capacity { vcpus } use { vcpus } } } } }`)).data.hosts.edges;
    for (const { node } of use)
      assert.ok(node.use.vcpus <= node.capacity.vcpus, `${node.name} within its capacity: ${JSON.stringify(node)}`);
    assert.deepEqual(new Set(mine.edges.map((e: any) => e.node.id)), new Set(made), 'the tenant’s domains are those made');

    // One subscription, resumed from the cursor: every create once, from both hosts. A delete on hv2 comes
    // after them all: its UNDEFINED closes what the stream must have carried.
    const onTwo = mine.edges.find((e: any) => e.node.host.name === 'hv2').node.id as string;
    const client = s.ws();
    const stream = collect(client, `subscription($a: String) { domainEvents(after: $a) { type domain { id host { name } } } }`, {
      a: cursor,
    });
    try {
      const del = await s.gql(
        `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`,
        { id: onTwo },
        token,
      );
      assert.equal(del.data.deleteDomain.__typename, 'DeleteDomainSuccess', JSON.stringify(del));
      const defined = new Map<string, number>();
      const hosts = new Set<string>();
      for (let i = 0; ; i++) {
        const e = (await stream.next(i + 1))[i]!.domainEvents;
        if (e.type === 'UNDEFINED' && e.domain.id === onTwo) break;
        if (e.type !== 'DEFINED') continue;
        defined.set(e.domain.id, (defined.get(e.domain.id) ?? 0) + 1);
        hosts.add(e.domain.host.name);
      }
      assert.deepEqual(new Set(defined.keys()), new Set(made), 'every create');
      assert.deepEqual(
        [...defined.values()].filter((n) => n !== 1),
        [],
        'no duplicate',
      );
      assert.equal(hosts.size, 2, 'from both hosts');
    } finally {
      stream.unsubscribe();
      await client.dispose();
    }

    // The delete on hv2 freed the quota: the next create is taken.
    assert.equal(await hostOf(onTwo), null, 'gone');
    const used = async () =>
      (await s.gql(`query($u: ID!) { node(id: $u) { ... on User { quota { usage { domains } } } } }`, { u: userId })).data.node.quota.usage
        .domains;
    assert.equal(await used(), 24, 'its quota freed');
    const again = await s.gql(CREATE, { i: { name: 'again', vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'default' } }, token);
    assert.equal(again.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(again));
    assert.equal(await used(), 25);
  });

  test('a second host named as the one the server runs beside is refused at start, naming the setting', async () => {
    const local = (await s.gql(`{ hosts(first: 1) { edges { node { name } } } }`)).data.hosts.edges[0].node.name as string;
    await assert.rejects(
      startTestServer({ otherHosts: [{ name: local, bus: { kind: 'address', address: hv2.stack.address } }] }),
      (err: Error) => err.name === 'StartupError' && err.message === `VIRTPLANE_HOSTS names ${local}, the host the server runs beside`,
    );
    // A host whose bus does not answer: the start fails naming it, and leaves nothing running (leftovers).
    const nowhere = join(dataDir, 'no-such-bus');
    await assert.rejects(
      startTestServer({ otherHosts: [{ name: 'hv9', bus: { kind: 'address', address: `unix:path=${nowhere}` } }] }),
      (err: Error) => {
        assert.equal(err.name, 'StartupError');
        assert.match(err.message, /^host hv9 \(VIRTPLANE_HOSTS\): /);
        return true;
      },
    );
  });

  test('served without hv2 after a restart: its guests are not listed, their quota stays reserved, and its past events still read', async () => {
    const tenant = addTenant(s.dataDir, 'keeper');
    const quota = { maxDomains: 5, maxVcpus: 5, maxMemoryMiB: 1024, maxDiskGiB: 10, maxInterfaces: 5 };
    const userId = Buffer.from(`User:${tenant.id}`).toString('base64');
    await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, { u: userId, q: quota });
    const hv2Id = (await s.gql(`{ hosts(first: 10) { edges { node { id name } } } }`)).data.hosts.edges[1].node.id;
    const vm = await s.gql(CREATE, { i: { name: 'left', vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'default', host: hv2Id } });
    assert.equal(vm.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(vm));
    const assigned = await s.gql(
      `mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on Error { code message } } }`,
      {
        id: vm.data.createDomain.domain.id,
        u: userId,
      },
    );
    assert.equal(assigned.data.assignDomain.__typename, 'AssignDomainSuccess', JSON.stringify(assigned));
    // Its usage names it by its own ID, on its host.
    const USAGE = `query($u: ID!, $from: DateTime!, $to: DateTime!) { node(id: $u) { ... on User {
      usage(from: $from, to: $to) { domains(first: 10) { edges { node { domainId domain { id } } } } } } } }`;
    const range = { from: new Date(Date.now() - 3600_000).toISOString(), to: new Date(Date.now() + 3600_000).toISOString() };
    const usage = await s.gql(USAGE, { u: userId, ...range }, tenant.token);
    assert.deepEqual(
      usage.data.node.usage.domains.edges.map((e: any) => e.node),
      [{ domainId: vm.data.createDomain.domain.id, domain: { id: vm.data.createDomain.domain.id } }],
      JSON.stringify(usage),
    );

    await s.stop();
    s = await startTestServer({ dataDir });
    const mine = await s.gql(`{ domains(first: 10) { totalCount } }`, {}, tenant.token);
    assert.equal(mine.data.domains.totalCount, 0, 'hv2 is not served: its guest is not listed');
    const used = await s.gql(`query($u: ID!) { node(id: $u) { ... on User { quota { usage { domains } } } } }`, { u: userId });
    assert.equal(used.data.node.quota.usage.domains, 1, 'its quota stays reserved');
    const replay = await s.gql(`{ events(first: 1000) { edges { cursor node { type domain { id } } } } }`);
    assert.equal(replay.errors, undefined, JSON.stringify(replay.errors));
    // hv2's network, made and deleted in an earlier test, replayed from the log's first event.
    const client = s.ws();
    const q = `subscription($a: String) { networkEvents(after: $a, types: [UNDEFINED]) { type network { name forwardMode antiSpoofing { enabled } } } }`;
    const nets = collect(client, q, { a: replay.data.events.edges[0].cursor });
    try {
      for (let i = 0; ; i++) {
        const e = (await nets.next(i + 1))[i]!.networkEvents;
        if (e.network.name !== 'only-hv2') continue;
        assert.deepEqual(e.network, { name: 'only-hv2', forwardMode: 'ISOLATED', antiSpoofing: { enabled: false } });
        break;
      }
    } finally {
      nets.unsubscribe();
      await client.dispose();
    }
  });
});
