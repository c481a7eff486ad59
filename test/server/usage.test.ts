import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { runCli } from '../helpers/virtplane-cli.js';

const QUOTA = { maxDomains: 5, maxVcpus: 8, maxMemoryMiB: 4096, maxDiskGiB: 50, maxInterfaces: 5 };
const H = 3_600_000;

interface Tenant {
  id: string;
  token: string;
}

const USAGE = `query($from: DateTime!, $to: DateTime!) { viewer { usage(from: $from, to: $to) {
  runningHours vcpuHours memoryGiBHours diskGiBHours
  domains(first: 10) { totalCount edges { node { domainId name domain { id } existedHours runningHours vcpuHours memoryGiBHours diskGiBHours } } } } } }`;

describe('usage: what a tenant’s domains used, metered from their events (test driver)', () => {
  let s: TestServer;
  let alice: Tenant;
  let bob: Tenant;

  async function tenant(name: string): Promise<Tenant> {
    const u = await s.gql(
      `mutation($n: String!) { createUser(input: { name: $n, role: TENANT }) { ... on CreateUserSuccess { user { id } } } }`,
      {
        n: name,
      },
    );
    const id = u.data.createUser.user.id;
    const t = await s.gql(`mutation($u: ID!) { createApiToken(userId: $u, label: "t") { ... on CreateApiTokenSuccess { token } } }`, {
      u: id,
    });
    await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, { u: id, q: QUOTA });
    return { id, token: t.data.createApiToken.token };
  }

  /** Runs a mutation on one domain; answers the times just before it was sent and just after it answered. */
  async function timed(
    mutation: string,
    vars: Record<string, unknown>,
    token?: string,
  ): Promise<{ sent: number; answered: number; r: any }> {
    const sent = Date.now();
    const r = await s.gql(mutation, vars, token);
    const answered = Date.now();
    assert.equal(r.errors, undefined, JSON.stringify(r));
    return { sent, answered, r: r.data };
  }

  const create = (t: Tenant, name: string) =>
    timed(
      `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { id } } ... on Error { code message } } }`,
      { i: { name, vcpus: 2, memoryMiB: 512, diskGiB: 5, network: 'default' } },
      t.token,
    );
  const act = (t: Tenant, verb: string, id: string) =>
    timed(`mutation($id: ID!) { r: ${verb}(id: $id) { __typename ... on Error { code message } } }`, { id }, t.token);
  const usage = async (t: Tenant, from = Date.now() - H, to = Date.now() + H) => {
    const r = await s.gql(USAGE, { from: new Date(from).toISOString(), to: new Date(to).toISOString() }, t.token);
    assert.equal(r.errors, undefined, JSON.stringify(r));
    return r.data.viewer.usage;
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const hours = (ms: number) => ms / H;
  const between = (v: number, lo: number, hi: number, what: string) =>
    assert.ok(v >= hours(lo) && v <= hours(hi), `${what}: ${v * H} ms not in [${lo}, ${hi}]`);
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

  before(async () => {
    s = await startTestServer();
    alice = await tenant('alice');
    bob = await tenant('bob');
  });
  after(async () => {
    await s.stop();
  });

  test('a deleted domain stays on the bill: hours running times its vCPUs and memory, hours existing times its disk', async () => {
    const created = await create(alice, 'metered');
    assert.equal(created.r.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(created.r));
    const id = created.r.createDomain.domain.id;
    await pause(200);
    const started = await act(alice, 'startDomain', id);
    await pause(500);
    const stopped = await act(alice, 'destroyDomain', id);
    await pause(200);
    const deleted = await act(alice, 'deleteDomain', id);
    assert.equal(deleted.r.r.__typename, 'DeleteDomainSuccess', JSON.stringify(deleted.r));

    const u = await usage(alice);
    assert.equal(u.domains.totalCount, 1);
    const d = u.domains.edges[0].node;
    assert.equal(d.domainId, id);
    assert.equal(d.name, 'metered');
    assert.equal(d.domain, null, 'deleted: only its usage is left');
    // Each change is metered when its event came, which is while its mutation ran.
    between(d.runningHours, stopped.sent - started.answered, stopped.answered - started.sent, 'running');
    between(d.existedHours, deleted.sent - created.answered, deleted.answered - created.sent, 'existed');
    close(d.vcpuHours, 2 * d.runningHours, 'vCPU-hours');
    close(d.memoryGiBHours, 0.5 * d.runningHours, 'memory GiB-hours');
    close(d.diskGiBHours, 5 * d.existedHours, 'disk GiB-hours');
    close(u.vcpuHours, d.vcpuHours, 'the total');

    // A range after the deletion holds nothing; another tenant never sees it.
    assert.equal((await usage(alice, Date.now(), Date.now() + H)).domains.totalCount, 0);
    assert.equal((await usage(bob)).domains.totalCount, 0);
  });

  test('a domain handed to another tenant counts for each the time it was theirs; the admin reads both', async () => {
    const created = await create(alice, 'handed-on');
    const id = created.r.createDomain.domain.id;
    const started = await act(alice, 'startDomain', id);
    await pause(300);
    const handed = await timed(`mutation($id: ID!, $u: ID!) { r: assignDomain(id: $id, userId: $u) { __typename } }`, { id, u: bob.id });
    assert.equal(handed.r.r.__typename, 'AssignDomainSuccess');
    await pause(300);
    const stopped = await act(bob, 'destroyDomain', id);

    const mine = async (t: Tenant) => (await usage(t)).domains.edges.map((e: any) => e.node).find((n: any) => n.domainId === id);
    const a = await mine(alice);
    const b = await mine(bob);
    assert.equal(a.domain, null, 'no longer hers: the domain itself is not shown to her');
    assert.equal(b.domain.id, id);
    between(a.runningHours, handed.sent - started.answered, handed.answered - started.sent, 'alice running');
    between(b.runningHours, stopped.sent - handed.answered, stopped.answered - handed.sent, 'bob running');

    // The admin reads any user's usage; a tenant reads no one else's (the user is not found for it).
    const ofAlice = `query($u: ID!, $from: DateTime!, $to: DateTime!) { node(id: $u) { ... on User { usage(from: $from, to: $to) { runningHours } } } }`;
    const range = { from: new Date(Date.now() - H).toISOString(), to: new Date(Date.now() + H).toISOString() };
    const asAdmin = await s.gql(ofAlice, { u: alice.id, ...range });
    close(asAdmin.data.node.usage.runningHours, (await usage(alice)).runningHours, 'the admin sees what alice sees');
    const asBob = await s.gql(ofAlice, { u: alice.id, ...range }, bob.token);
    assert.equal(asBob.data.node, null);
    await act(bob, 'deleteDomain', id);
  });

  test('`virtplane usage` prints this month so far, a row per domain and the total; an admin names the user', async () => {
    const home = mkdtempSync(join(tmpdir(), 'vp-usage-cli-'));
    try {
      const cli = (args: string[], token: string) =>
        runCli(args, { configHome: home, env: { VIRTPLANE_URL: s.url, VIRTPLANE_TOKEN: token } });
      const api = await usage(alice, Date.parse(new Date().toISOString().slice(0, 8) + '01T00:00:00Z'), Date.now() + H);
      const json = await cli(['usage', '-o', 'json'], alice.token);
      assert.equal(json.status, 0, json.stderr);
      const printed = JSON.parse(json.stdout);
      assert.deepEqual(
        printed.domains.map((d: any) => d.name),
        api.domains.edges.map((e: any) => e.node.name),
      );
      assert.ok(printed.vcpuHours >= api.vcpuHours && printed.vcpuHours > 0, 'the same figures, counted a moment later');
      const table = await cli(['usage', 'alice'], ADMIN_TOKEN);
      assert.equal(table.status, 0, table.stderr);
      const lines = table.stdout.trim().split('\n');
      assert.match(lines[0]!, /^DOMAIN\s+RUNNING H\s+VCPU H\s+MEMORY GIB H\s+DISK GIB H$/);
      assert.deepEqual(
        lines.slice(1).map((l) => l.split(/\s+/)[0]),
        [...api.domains.edges.map((e: any) => e.node.name), 'total'],
      );
      const refused = await cli(['usage', '--from', 'yesterday'], alice.token);
      assert.equal(refused.status, 2, 'a date it cannot read is a usage error');
      assert.equal((await cli(['usage', '--from', '2026-02-30'], alice.token)).status, 2, 'nor one that does not exist');
      // A tenant may name itself (it cannot list users to look a name up).
      const self = await cli(['usage', 'alice', '-o', 'json'], alice.token);
      assert.equal(self.status, 0, self.stderr);
      assert.deepEqual(
        JSON.parse(self.stdout).domains.map((d: any) => d.name),
        printed.domains.map((d: any) => d.name),
      );
      // Admins: every user's totals, one line each (a bill's lines); a tenant may not.
      const all = await cli(['usage', '--all', '-o', 'json'], ADMIN_TOKEN);
      assert.equal(all.status, 0, all.stderr);
      const perUser = JSON.parse(all.stdout) as { user: string; usage: { vcpuHours: number } | null }[];
      assert.deepEqual(perUser.map((l) => l.user).sort(), ['admin', 'alice', 'bob']);
      assert.ok(
        Math.abs(perUser.find((l) => l.user === 'alice')!.usage!.vcpuHours - printed.vcpuHours) < 0.01,
        'alice’s line is her total',
      );
      assert.equal((await cli(['usage', '--all'], alice.token)).status, 4, 'FORBIDDEN for a tenant');
      assert.equal((await cli(['usage', 'alice', '--all'], ADMIN_TOKEN)).status, 7, '--all names no user');
      // A deleted domain is marked as gone in the table.
      const mine = await cli(['usage'], alice.token);
      assert.match(mine.stdout, /^metered \(gone\)\s/m);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('a range that ends before it starts, or spans more than 366 days, is VALIDATION', async () => {
    const now = Date.now();
    for (const [from, to] of [
      [now, now],
      [now, now - 1000],
      [now - 367 * 24 * H, now],
    ]) {
      const r = await s.gql(USAGE, { from: new Date(from!).toISOString(), to: new Date(to!).toISOString() }, alice.token);
      assert.equal(r.errors?.[0]?.extensions?.code, 'VALIDATION', JSON.stringify(r));
    }
  });
});
