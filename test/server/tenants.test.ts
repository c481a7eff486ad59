import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { DEFAULT_LIMITS } from '../../src/config.js';
import { localId } from '../../src/graphql/ids.js';
import { postAtOnce } from '../helpers/at-once.js';
import { eventually } from '../helpers/tenants.js';
import { ADMIN_TOKEN, collect, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';
import { within } from '../helpers/within.js';

const TEST_DOMAIN_UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f'; // the test driver's own domain, owned by nobody
const BIG = { maxDomains: 50, maxVcpus: 100, maxMemoryMiB: 100_000, maxDiskGiB: 1000, maxInterfaces: 50 };

interface Tenant {
  id: string;
  token: string;
  tokenId: string;
}

const CREATE = `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename
  ... on CreateDomainSuccess { domain { id uuid name vcpus memoryMiB state owner { id } interfaces { network { name } } } }
  ... on QuotaExceededError { code resource limit used requested }
  ... on Error { code message } } }`;

const LIFECYCLE = ['startDomain', 'shutdownDomain', 'destroyDomain', 'rebootDomain', 'resetDomain', 'suspendDomain', 'resumeDomain'];

describe('tenants: users, tokens, quotas, isolation (test driver)', () => {
  let s: TestServer;
  let a: Tenant;
  let b: Tenant;

  async function createTenant(name: string, quota: typeof BIG | null): Promise<Tenant> {
    const u = await s.gql(
      `mutation($i: CreateUserInput!) { createUser(input: $i) { __typename ... on CreateUserSuccess { user { id name role } } ... on Error { code message } } }`,
      { i: { name, role: 'TENANT' } },
    );
    assert.equal(u.data.createUser.__typename, 'CreateUserSuccess', JSON.stringify(u));
    const id = u.data.createUser.user.id;
    const t = await s.gql(
      `mutation($u: ID!) { createApiToken(userId: $u, label: "ci") { __typename ... on CreateApiTokenSuccess { token apiToken { id prefix label } } } }`,
      { u: id },
    );
    const { token, apiToken } = t.data.createApiToken;
    assert.ok(token.startsWith(apiToken.prefix), 'the token starts with its shown prefix');
    if (quota) {
      const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, { u: id, q: quota });
      assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess');
    }
    return { id, token, tokenId: apiToken.id };
  }

  const createDomain = (t: Tenant, name: string, extra: Record<string, unknown> = {}) =>
    s.gql(CREATE, { i: { name, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', ...extra } }, t.token);

  const usage = async (t: Tenant) =>
    (await s.gql(`{ viewer { quota { usage { domains vcpus memoryMiB diskGiB interfaces } } } }`, {}, t.token)).data.viewer.quota.usage;
  const domainNames = async (token: string) =>
    (await s.gql(`{ domains(first: 100) { totalCount edges { node { name } } } }`, {}, token)).data.domains.edges
      .map((e: any) => e.node.name)
      .sort();

  before(async () => {
    s = await startTestServer({ limits: { ...DEFAULT_LIMITS, maxDepth: 7, maxSubscriptionsPerToken: 3 } });
    a = await createTenant('alice', BIG);
    b = await createTenant('bob', BIG);
  });
  after(async () => {
    await s.stop();
  });

  test('viewer shows role and quota; a tenant creates a domain it owns, in its libvirt metadata too', async () => {
    const v = await s.gql(`{ viewer { id name role quota { limits { maxDomains maxVcpus } usage { domains } } } }`, {}, a.token);
    assert.deepEqual(v.data.viewer, {
      id: a.id,
      name: 'alice',
      role: 'TENANT',
      quota: { limits: { maxDomains: 50, maxVcpus: 100 }, usage: { domains: 0 } },
    });
    const admin = await s.gql(`{ viewer { role quota { limits { maxDomains } } } }`);
    assert.deepEqual(admin.data.viewer, { role: 'ADMIN', quota: { limits: { maxDomains: null } } });

    const r = await createDomain(a, 'alice-web', { vcpus: 2, memoryMiB: 256, diskGiB: 5 });
    assert.equal(r.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(r));
    const d = r.data.createDomain.domain;
    assert.deepEqual(
      { name: d.name, vcpus: d.vcpus, memoryMiB: d.memoryMiB, state: d.state, owner: d.owner.id, net: d.interfaces[0].network.name },
      { name: 'alice-web', vcpus: 2, memoryMiB: 256, state: 'SHUTOFF', owner: a.id, net: 'default' },
    );
    assert.deepEqual(await usage(a), { domains: 1, vcpus: 2, memoryMiB: 256, diskGiB: 5, interfaces: 1 });

    // What `virsh dumpxml` would show: the owner in virtplane's own metadata namespace.
    const bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    try {
      const [path] = await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [d.uuid]);
      const [xml] = await bus.call(path as string, 'org.libvirt.Domain', 'GetXMLDesc', 'u', [0]);
      const ownerUuid = Buffer.from(a.id, 'base64').toString().split(':')[1];
      assert.match(
        xml as string,
        new RegExp(`<virtplane:instance xmlns:virtplane="https://virtplane.dev/xmlns/domain/1">\\s*<virtplane:owner id="${ownerUuid}"/>`),
      );
      assert.match(xml as string, /<rom enabled=["']no["']\/>/);
    } finally {
      bus.disconnect();
    }
  });

  test('two tenants cannot see or touch each other’s domains through any query, mutation or subscription', async () => {
    const mine = (await createDomain(a, 'alice-db')).data.createDomain.domain;
    const theirs = (await createDomain(b, 'bob-app')).data.createDomain.domain;
    assert.deepEqual(await domainNames(a.token), ['alice-db', 'alice-web']);
    assert.deepEqual(await domainNames(b.token), ['bob-app']);
    assert.ok((await domainNames(ADMIN_TOKEN)).includes('test'), "the admin sees the test driver's own domain");

    // Bob's subscription to all his events stays open during the attack: it must see only his own domain.
    const bobClient = s.ws(b.token);
    const bobEvents = collect(bobClient, `subscription { domainEvents { type domain { name } } }`);
    await new Promise<void>((resolve, reject) =>
      bobClient.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
    );

    const missing = domainGlobalId('00000000-0000-4000-8000-000000000000');
    const targets = {
      foreign: mine.id,
      unowned: domainGlobalId(TEST_DOMAIN_UUID),
      missing,
      wrongType: Buffer.from(`User:${Buffer.from(a.id, 'base64').toString().split(':')[1]}`).toString('base64'),
      garbage: 'not-a-global-id',
      forged: Buffer.from(`Domain:${mine.uuid} `).toString('base64'),
    };
    for (const [kind, id] of Object.entries(targets)) {
      const q = await s.gql(`query($id: ID!) { node(id: $id) { id } }`, { id }, b.token);
      assert.equal(q.data?.node ?? null, null, `${kind}: node(id:) must find nothing`);
      for (const m of [...LIFECYCLE, 'deleteDomain']) {
        const r = await s.gql(`mutation($id: ID!) { r: ${m}(id: $id) { __typename ... on Error { code } } }`, { id }, b.token);
        assert.deepEqual(r.data.r, { __typename: 'NotFoundError', code: 'NOT_FOUND' }, `${kind} ${m}`);
      }
      const sub = collect(s.ws(b.token), `subscription($id: ID) { domainEvents(domainId: $id) { type } }`, { id });
      await sub.next(1, 5000).catch(() => undefined);
      assert.equal(
        (sub.errors[0] as any)?.extensions?.code ?? (sub.errors[0] as any)?.[0]?.extensions?.code,
        'NOT_FOUND',
        `${kind} domainEvents(domainId:)`,
      );
    }
    const assign = await s.gql(
      `mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on Error { code } } }`,
      { id: mine.id, u: b.id },
      b.token,
    );
    assert.deepEqual(assign.data.assignDomain, { __typename: 'ForbiddenError', code: 'FORBIDDEN' });

    // Alice's domain is untouched; Bob's own domain works for him and is the only one his stream shows.
    const aliceView = await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { name state } } }`, { id: mine.id }, a.token);
    assert.deepEqual(aliceView.data.node, { name: 'alice-db', state: 'SHUTOFF' });
    await s.gql(`mutation($id: ID!) { startDomain(id: $id) { __typename } }`, { id: mine.id }, a.token);
    const started = await s.gql(`mutation($id: ID!) { startDomain(id: $id) { __typename } }`, { id: theirs.id }, b.token);
    assert.equal(started.data.startDomain.__typename, 'DomainActionSuccess');
    const [ev] = await bobEvents.next(1);
    assert.deepEqual(ev.domainEvents, { type: 'STARTED', domain: { name: 'bob-app' } });
    await s.gql(`mutation($id: ID!) { destroyDomain(id: $id) { __typename } }`, { id: theirs.id }, b.token);
    await bobEvents.next(2);
    assert.ok(
      bobEvents.items.every((e: any) => e.domainEvents.domain.name === 'bob-app'),
      JSON.stringify(bobEvents.items),
    );
    bobEvents.unsubscribe();
    await s.gql(`mutation($id: ID!) { destroyDomain(id: $id) { __typename } }`, { id: mine.id }, a.token);

    // Users: a tenant sees itself, never another user.
    const users = await s.gql(
      `query($a: ID!, $b: ID!) { me: node(id: $b) { id } other: node(id: $a) { id } }`,
      { a: a.id, b: b.id },
      b.token,
    );
    assert.deepEqual(users.data, { me: { id: b.id }, other: null });
  });

  test('a tenant calling admin mutations and queries gets FORBIDDEN, and nothing changes', async () => {
    const calls: [string, Record<string, unknown>][] = [
      [`mutation { r: createUser(input: { name: "mallory", role: ADMIN }) { __typename ... on Error { code } } }`, {}],
      [`mutation($id: ID!) { r: deleteUser(id: $id) { __typename ... on Error { code } } }`, { id: a.id }],
      [`mutation($id: ID!) { r: createApiToken(userId: $id, label: "x") { __typename ... on Error { code } } }`, { id: a.id }],
      [`mutation($id: ID!) { r: revokeApiToken(id: $id) { __typename ... on Error { code } } }`, { id: a.tokenId }],
      [
        `mutation($id: ID!) { r: setQuota(userId: $id, input: { maxDomains: 99, maxVcpus: 99, maxMemoryMiB: 99, maxDiskGiB: 99, maxInterfaces: 99 }) { __typename ... on Error { code } } }`,
        { id: b.id },
      ],
      [
        `mutation($id: ID!, $u: ID!) { r: assignDomain(id: $id, userId: $u) { __typename ... on Error { code } } }`,
        { id: domainGlobalId(TEST_DOMAIN_UUID), u: b.id },
      ],
    ];
    for (const [q, v] of calls) {
      const r = await s.gql(q, v, b.token);
      assert.deepEqual(r.data.r, { __typename: 'ForbiddenError', code: 'FORBIDDEN' }, q);
    }
    for (const q of [`{ users { totalCount } }`, `{ auditLog { totalCount } }`]) {
      const r = await s.gql(q, {}, b.token);
      assert.equal(r.errors?.[0]?.extensions?.code, 'FORBIDDEN', q);
    }
    const quota = await s.gql(`{ viewer { quota { limits { maxDomains } } } }`, {}, b.token);
    assert.equal(quota.data.viewer.quota.limits.maxDomains, 50);
    const users = await s.gql(`{ users { edges { node { name } } } }`);
    assert.ok(!users.data.users.edges.some((e: any) => e.node.name === 'mallory'), 'the forbidden createUser made no user');
    // A tenant's token still works (the revoke attempt did nothing).
    assert.equal((await s.gql(`{ viewer { name } }`, {}, a.token)).data.viewer.name, 'alice');
    const tokens = await s.gql(`{ viewer { apiTokens { id } } }`, {}, a.token);
    assert.deepEqual(
      [tokens.errors, tokens.data],
      [undefined, { viewer: { apiTokens: [] } }],
      'a tenant sees no tokens, not even its own, and no error',
    );
  });

  test('20 creates reaching the server at the same instant against a limit of 5 give exactly 5 domains', async () => {
    const c = await createTenant('carol', { ...BIG, maxDomains: 5 });
    // At the same instant, not merely concurrently: requests a few milliseconds apart let a check made
    // outside the reservation's transaction slip through only some of the time.
    const results = await postAtOnce(
      s.url,
      c.token,
      Array.from({ length: 20 }, (_, i) => ({
        query: CREATE,
        variables: { i: { name: `carol-${String(i).padStart(2, '0')}`, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default' } },
      })),
    );
    for (const r of results) assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const kinds = results.map((r) => r.data.createDomain.__typename);
    assert.equal(kinds.filter((k) => k === 'CreateDomainSuccess').length, 5, JSON.stringify(kinds));
    const refused = results.map((r) => r.data.createDomain).filter((d) => d.__typename === 'QuotaExceededError');
    assert.equal(refused.length, 15);
    for (const e of refused) {
      assert.deepEqual([e.code, e.resource, e.limit, e.used, e.requested], ['QUOTA_EXCEEDED', 'DOMAINS', 5, 5, 1]);
    }
    assert.equal((await domainNames(c.token)).length, 5);
    assert.equal((await usage(c)).domains, 5);
  });

  test('over quota: QuotaExceededError with the numbers, and nothing changed; delete releases the quota', async () => {
    const d = await createTenant('dave', { maxDomains: 3, maxVcpus: 4, maxMemoryMiB: 1024, maxDiskGiB: 10, maxInterfaces: 3 });
    const first = await createDomain(d, 'dave-1', { vcpus: 3, memoryMiB: 512, diskGiB: 8 });
    assert.equal(first.data.createDomain.__typename, 'CreateDomainSuccess');
    const before = await usage(d);
    const cases: [Record<string, unknown>, unknown][] = [
      [{ vcpus: 2 }, { resource: 'VCPUS', limit: 4, used: 3, requested: 2 }],
      [{ memoryMiB: 600 }, { resource: 'MEMORY_MIB', limit: 1024, used: 512, requested: 600 }],
      [{ diskGiB: 3 }, { resource: 'DISK_GIB', limit: 10, used: 8, requested: 3 }],
    ];
    for (const [extra, want] of cases) {
      const r = (await createDomain(d, 'dave-2', extra)).data.createDomain;
      assert.equal(r.__typename, 'QuotaExceededError');
      assert.equal(r.code, 'QUOTA_EXCEEDED');
      assert.deepEqual({ resource: r.resource, limit: r.limit, used: r.used, requested: r.requested }, want);
    }
    assert.deepEqual(await usage(d), before);
    assert.deepEqual(await domainNames(d.token), ['dave-1']);

    // A name of one's own is taken (another tenant's is not: names are per tenant); nothing is reserved.
    // (A libvirt failure releasing its reservation: provisioning.test.ts, "name taken concurrently".)
    const clash = (await createDomain(d, 'dave-1')).data.createDomain;
    assert.equal(clash.code, 'CONFLICT');
    assert.deepEqual(await usage(d), before);

    // deleteUser is refused while the user owns domains.
    const del = await s.gql(`mutation($id: ID!) { deleteUser(id: $id) { __typename ... on Error { code } } }`, { id: d.id });
    assert.deepEqual(del.data.deleteUser, { __typename: 'InUseError', code: 'IN_USE' });

    const removed = await s.gql(
      `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on DeleteDomainSuccess { domain { name } } } }`,
      {
        id: first.data.createDomain.domain.id,
      },
      d.token,
    );
    assert.deepEqual(removed.data.deleteDomain, { __typename: 'DeleteDomainSuccess', domain: { name: 'dave-1' } });
    assert.deepEqual(await usage(d), { domains: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0, interfaces: 0 });
    assert.deepEqual(await domainNames(d.token), []);
    assert.equal((await createDomain(d, 'dave-2', { vcpus: 4 })).data.createDomain.__typename, 'CreateDomainSuccess');
  });

  test('admins adopt an unowned domain with assignDomain: the tenant then sees it and its resources count', async () => {
    const e = await createTenant('erin', BIG);
    const r = await s.gql(
      `mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on AssignDomainSuccess { domain { name owner { id } } } ... on Error { code message } } }`,
      {
        id: domainGlobalId(TEST_DOMAIN_UUID),
        u: e.id,
      },
    );
    assert.deepEqual(r.data.assignDomain, { __typename: 'AssignDomainSuccess', domain: { name: 'test', owner: { id: e.id } } });
    assert.deepEqual(await domainNames(e.token), ['test']);
    assert.equal((await usage(e)).vcpus, 2);
    assert.deepEqual(await domainNames(b.token), ['bob-app']);
  });

  test('a domain undefined behind virtplane’s back (virsh undefine) frees its owner’s quota', async () => {
    const h = await createTenant('heidi', BIG);
    const made = (await createDomain(h, 'heidi-1', { vcpus: 2 })).data.createDomain.domain;
    assert.equal((await usage(h)).vcpus, 2);
    const bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    try {
      const [path] = await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [made.uuid]);
      await bus.call(path as string, 'org.libvirt.Domain', 'Undefine', 'u', [0]);
    } finally {
      bus.disconnect();
    }
    let u = await usage(h);
    for (let i = 0; i < 100 && u.domains !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      u = await usage(h);
    }
    assert.deepEqual(u, { domains: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0, interfaces: 0 });
    const del = await s.gql(`mutation($id: ID!) { deleteUser(id: $id) { __typename } }`, { id: h.id });
    assert.equal(del.data.deleteUser.__typename, 'DeleteUserSuccess');
  });

  test('a domain undefined behind virtplane’s back while an admin assigns it frees everything all the same', async () => {
    const from = await createTenant('judy', BIG);
    const to = await createTenant('ken', BIG);
    const bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    try {
      for (let i = 0; i < 20; i++) {
        const made = (await createDomain(from, `judy-${i}`)).data.createDomain.domain;
        const [path] = await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [made.uuid]);
        const assign = s.gql(`mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename } }`, { id: made.id, u: to.id });
        // The undefine lands at some moment of the assign (before, during or after it).
        await new Promise((r) => setTimeout(r, i % 4));
        await bus.call(path as string, 'org.libvirt.Domain', 'Undefine', 'u', [0]);
        await assign;
      }
    } finally {
      bus.disconnect();
    }
    const zero = { domains: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0, interfaces: 0 };
    for (const t of [from, to]) {
      // Released once the UNDEFINED has been handled, which may come a moment after the last call returned.
      await eventually(async () => (JSON.stringify(await usage(t)) === JSON.stringify(zero) ? true : null), 'usage back to zero').catch(
        () => undefined,
      );
      assert.deepEqual(await usage(t), zero);
    }
  });

  test('undefining a RUNNING domain behind virtplane’s back keeps its quota: it lives on as a transient domain', async () => {
    const h = await createTenant('ivan', BIG);
    const made = (await createDomain(h, 'ivan-1', { vcpus: 2 })).data.createDomain.domain;
    const start = await s.gql(`mutation($id: ID!) { startDomain(id: $id) { __typename } }`, { id: made.id }, h.token);
    assert.equal(start.data.startDomain.__typename, 'DomainActionSuccess');
    const client = s.ws();
    const sub = collect(client, `subscription($id: ID) { domainEvents(domainId: $id) { type domain { name state } } }`, { id: made.id });
    await new Promise<void>((resolve, reject) =>
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
    );
    const bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    try {
      const [path] = await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [made.uuid]);
      await bus.call(path as string, 'org.libvirt.Domain', 'Undefine', 'u', [0]);
    } finally {
      bus.disconnect();
    }
    const [undefinedEvent] = await sub.next(1);
    assert.equal(undefinedEvent.domainEvents.type, 'UNDEFINED');
    // The UNDEFINED event has been handled by now; the domain still runs, so it still counts.
    assert.equal((await usage(h)).vcpus, 2);
    const seen = await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { state persistent } } }`, { id: made.id }, h.token);
    assert.deepEqual(seen.data.node, { state: 'RUNNING', persistent: false });
    sub.unsubscribe();
  });

  test('revoking a token ends its open server-sent-events subscription with UNAUTHENTICATED', async () => {
    const g = await createTenant('gina', BIG);
    const res = await fetch(s.url, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${g.token}` },
      body: JSON.stringify({ query: 'subscription { domainEvents { type } }' }),
    });
    assert.equal(res.status, 200);
    const registry = s.app.services.subscriptions;
    await eventually(async () => registry.count(localId(g.tokenId, 'ApiToken')) > 0 || undefined, 'the subscription open');
    const r = await s.gql(`mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }`, { id: g.tokenId });
    assert.equal(r.data.revokeApiToken.__typename, 'RevokeApiTokenSuccess');
    const text = await within(res.text(), 'the SSE subscription of a revoked token ends'); // after its error
    const payloads = [...text.matchAll(/^data: (.+)$/gm)].map((m) => JSON.parse(m[1]!)).filter((p) => p.errors);
    assert.deepEqual(
      payloads.map((p) => p.errors.map((e: { extensions?: { code?: string } }) => e.extensions?.code)),
      [['UNAUTHENTICATED']],
      text,
    );
  });

  test('revoking a token refuses its next request and closes its open WebSocket', async () => {
    const f = await createTenant('frank', BIG);
    const client = s.ws(f.token);
    const closed = new Promise<number>((resolve) => client.on('closed', (ev) => resolve((ev as { code: number }).code)));
    const sub = collect(client, `subscription { domainEvents { type } }`);
    await within(
      new Promise<void>((resolve, reject) =>
        client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
      ),
      'the server answers on the WebSocket',
    );
    assert.equal((await s.gql(`{ viewer { name } }`, {}, f.token)).data.viewer.name, 'frank');

    const r = await s.gql(
      `mutation($id: ID!) { revokeApiToken(id: $id) { __typename ... on RevokeApiTokenSuccess { apiToken { revokedAt } } } }`,
      {
        id: f.tokenId,
      },
    );
    assert.ok(r.data.revokeApiToken.apiToken.revokedAt, 'the revoked token has a revocation time');
    assert.equal(await within(closed, 'the WebSocket of a revoked token is closed'), 4401);
    await sub.next(1, 5000).catch(() => undefined); // returns once the subscription has ended
    assert.equal(sub.completed || sub.errors.length > 0, true);
    const next = await s.gql(`{ viewer { name } }`, {}, f.token);
    assert.equal(next.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    assert.equal(next.status, 401);
  });

  test('too deep, too aliased and too many subscriptions are refused with a code before anything runs', async () => {
    const deep = await s.gql(`{ domains { edges { node { interfaces { network { ipv4 { dhcpRanges { start } } } } } } } }`, {}, a.token);
    assert.equal(deep.data, undefined);
    assert.equal(deep.errors?.[0]?.extensions?.code, 'QUERY_TOO_DEEP', JSON.stringify(deep));
    const fine = await s.gql(`{ domains { edges { node { interfaces { network { name } } } } } }`, {}, a.token);
    assert.equal(fine.errors, undefined);

    const id = domainGlobalId(TEST_DOMAIN_UUID);
    const aliased = await s.gql(
      `mutation($id: ID!) { ${Array.from({ length: 16 }, (_, i) => `a${i}: suspendDomain(id: $id) { __typename }`).join(' ')} }`,
      { id },
    );
    assert.equal(aliased.data, undefined);
    assert.equal(aliased.errors?.[0]?.extensions?.code, 'TOO_MANY_ALIASES');
    const state = await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { state } } }`, { id });
    assert.equal(state.data.node.state, 'RUNNING', 'the refused mutation never reached libvirt');

    const wsAliased = collect(
      s.ws(a.token),
      `subscription { domainEvents { ${Array.from({ length: 16 }, (_, i) => `a${i}: type`).join(' ')} } }`,
    );
    await wsAliased.next(1, 5000).catch(() => undefined);
    assert.equal(JSON.stringify(wsAliased.errors).includes('TOO_MANY_ALIASES'), true, JSON.stringify(wsAliased.errors));

    const client = s.ws(a.token);
    const subs = [0, 1, 2].map(() => collect(client, `subscription { domainEvents { type } }`));
    await new Promise<void>((resolve, reject) =>
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
    );
    const fourth = collect(s.ws(a.token), `subscription { domainEvents { type } }`);
    await fourth.next(1, 5000).catch(() => undefined);
    assert.equal(JSON.stringify(fourth.errors).includes('LIMIT_EXCEEDED'), true, JSON.stringify(fourth.errors));
    subs[0]!.unsubscribe();
    // The slot is free again once the server saw the unsubscribe.
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      const again = collect(s.ws(a.token), `subscription { domainEvents { type } }`);
      await new Promise((r) => setTimeout(r, 50));
      ok = again.errors.length === 0 && !again.completed;
      again.unsubscribe();
    }
    assert.ok(ok, 'the freed slot takes a new subscription');
    subs.forEach((x) => x.unsubscribe());
  });

  test('auditLog records every mutation with who, what, target and result, and never a token', async () => {
    const g = await createTenant('grace', BIG);
    const made = await createDomain(g, 'grace-1');
    await s.gql(`mutation { createUser(input: { name: "nope", role: TENANT }) { __typename } }`, {}, g.token);
    const log = await s.gql(
      `query($u: ID!) { auditLog(first: 10, filter: { actorId: $u }) { totalCount edges { node { actorId actorName action target result message at } } } }`,
      { u: g.id },
    );
    assert.equal(log.errors, undefined, JSON.stringify(log.errors));
    const rows = log.data.auditLog.edges.map((e: any) => e.node);
    assert.deepEqual(
      rows.map((r: any) => [r.actorName, r.action, r.result, r.target]),
      [
        ['grace', 'createUser', 'FORBIDDEN', null],
        ['grace', 'createDomain', 'SUCCESS', made.data.createDomain.domain.id],
      ],
    );
    assert.equal(rows[0].actorId, g.id);
    const tokenRows = await s.gql(
      `query($t: ID!) { auditLog(filter: { action: "createApiToken", target: $t }) { edges { node { actorName result } } } }`,
      { t: g.id },
    );
    assert.deepEqual(
      tokenRows.data.auditLog.edges.map((e: any) => e.node),
      [{ actorName: 'admin', result: 'SUCCESS' }],
    );

    // The secret of a created token appears nowhere in the audit table.
    const db = new Database(`${s.dataDir}/virtplane.sqlite`, { readonly: true });
    try {
      const dump = JSON.stringify(db.prepare('SELECT * FROM audit_events').all());
      assert.ok(!dump.includes(g.token) && !dump.includes(g.token.slice(10)), 'the audit log holds no token, nor its secret part');
      assert.ok(dump.includes('createApiToken'), 'the audit log holds the createApiToken call');
    } finally {
      db.close();
    }
    const page1 = await s.gql(`{ auditLog(first: 2) { edges { cursor } pageInfo { hasNextPage endCursor } } }`);
    const page2 = await s.gql(`query($a: String) { auditLog(first: 2, after: $a) { edges { cursor node { action } } } }`, {
      a: page1.data.auditLog.pageInfo.endCursor,
    });
    assert.equal(page1.data.auditLog.pageInfo.hasNextPage, true);
    assert.equal(page2.data.auditLog.edges.length, 2);
    assert.ok(
      !page1.data.auditLog.edges.some((e: any) => page2.data.auditLog.edges.some((f: any) => f.cursor === e.cursor)),
      'the two audit pages share no entry',
    );
    // An ID of another type names no user: nothing matches (not "no filter").
    const tokenId = Buffer.from(`ApiToken:${Buffer.from(g.id, 'base64').toString().split(':')[1]}`).toString('base64');
    const none = await s.gql(`query($u: ID!) { auditLog(filter: { actorId: $u }) { totalCount } }`, { u: tokenId });
    assert.equal(none.data.auditLog.totalCount, 0);
    for (const [args, v] of [
      ['first: 1001, after: $a', { a: null }],
      ['after: $a', { a: 'not-a-cursor' }],
      ['after: $a', { a: Buffer.from('["x"]').toString('base64url') }],
    ] as const) {
      const bad = await s.gql(`query($a: String) { auditLog(${args}) { totalCount } }`, v);
      assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', `${args} ${JSON.stringify(bad)}`);
    }
    // Paging backwards is refused, as by events, not ignored (last: 1 used to answer every row).
    const cursor = page1.data.auditLog.pageInfo.endCursor;
    for (const field of ['auditLog', 'events']) {
      for (const args of ['last: 1', `first: 1, before: "${cursor}"`]) {
        const bad = await s.gql(`{ ${field}(${args}) { edges { cursor } } }`);
        assert.deepEqual(
          [bad.data, bad.errors?.[0]?.extensions?.code, bad.errors?.[0]?.message],
          [{ [field]: null }, 'BAD_USER_INPUT', `${field} pages forward only: use first/after`],
          `${field}(${args})`,
        );
      }
    }
  });
});
