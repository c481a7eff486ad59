import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { collect, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';
import { within } from '../helpers/within.js';

const TEST_DOMAIN_UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f';

describe('foundation: live libvirt state over GraphQL (test driver)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.stop();
  });

  test('lists the test driver domain and network with their libvirt state', async () => {
    const r = await s.gql(`{
      domains(first: 10) { totalCount edges { node { id uuid name state vcpus memoryMiB persistent
        interfaces { mac network { name } } disks { target device source } } } }
      networks(first: 10) { totalCount edges { node { name active forwardMode bridge ipv4 { address prefix dhcpRanges { start end } } } } }
      host { driver libvirtVersion cpus memoryMiB stale }
    }`);
    assert.equal(r.errors, undefined);
    const d = r.data.domains.edges[0].node;
    assert.equal(r.data.domains.totalCount, 1);
    assert.equal(d.name, 'test');
    assert.equal(d.state, 'RUNNING');
    assert.equal(d.uuid, TEST_DOMAIN_UUID);
    assert.equal(d.id, domainGlobalId(TEST_DOMAIN_UUID));
    assert.equal(d.vcpus, 2);
    assert.deepEqual(d.interfaces, [{ mac: 'aa:bb:cc:dd:ee:ff', network: { name: 'default' } }]);
    assert.deepEqual(d.disks, [{ target: 'vda', device: 'disk', source: '/guest/diskimage1' }]);
    const n = r.data.networks.edges[0].node;
    assert.deepEqual(
      { name: n.name, active: n.active, forwardMode: n.forwardMode, prefix: n.ipv4.prefix },
      { name: 'default', active: true, forwardMode: 'NAT', prefix: 24 },
    );
    assert.equal(r.data.host.driver, 'Test');
    assert.match(r.data.host.libvirtVersion, /^\d+\.\d+\.\d+$/);
    assert.ok(r.data.host.cpus > 0 && r.data.host.memoryMiB > 0, `the host reports CPUs and memory: ${JSON.stringify(r.data.host)}`);
    assert.equal(r.data.host.stale, false);
  });

  test('node(id:) loads a domain by its global ID, and a forged ID finds nothing', async () => {
    const r = await s.gql(`query($id: ID!, $bad: ID!) { node(id: $id) { ... on Domain { name } } bad: node(id: $bad) { id } }`, {
      id: domainGlobalId(TEST_DOMAIN_UUID),
      bad: domainGlobalId('00000000-0000-0000-0000-000000000000'),
    });
    assert.equal(r.errors, undefined);
    assert.equal(r.data.node.name, 'test');
    assert.equal(r.data.bad, null);
  });

  test('node(id:) finds nothing, without an error, for an ID that names nothing loadable, as for an unknown one', async () => {
    const g = (s: string) => Buffer.from(s).toString('base64');
    // Malformed, empty, an unknown type, a type that is no Node, a Node type with an unknown id.
    for (const id of ['abc', '', g('Foo:1'), g('DomainDisk:vda'), g('Domain:nope')]) {
      const r = await s.gql(`query($id: ID!) { node(id: $id) { id } }`, { id });
      assert.deepEqual([r.errors, r.data], [undefined, { node: null }], `node(id: ${JSON.stringify(id)})`);
    }
    const many = await s.gql(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, {
      ids: ['abc', domainGlobalId(TEST_DOMAIN_UUID), g('Foo:1')],
    });
    assert.deepEqual([many.errors, many.data], [undefined, { nodes: [null, { id: domainGlobalId(TEST_DOMAIN_UUID) }, null] }]);
  });

  test('a variable missing or of the wrong type is refused (HTTP 400) with extensions.code BAD_USER_INPUT, saying which variable', async () => {
    for (const [query, variables] of [
      [`query($n: Int) { domains(first: $n) { totalCount } }`, { n: 'x' }],
      [`query($d: DateTime) { auditLog(filter: { since: $d }) { totalCount } }`, { d: 'yesterday' }],
      [`query($id: ID!) { node(id: $id) { id } }`, {}],
    ] as const) {
      const r = await s.gql(query, variables);
      assert.equal(r.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', `${query}: ${JSON.stringify(r)}`);
      assert.match(r.errors[0].message, /^Variable "\$\w+"/);
      assert.equal(r.status, 400, 'the request was refused before it ran');
    }
  });

  test('filters domains by state and name', async () => {
    const q = `query($f: DomainFilter) { domains(filter: $f) { totalCount } }`;
    assert.equal((await s.gql(q, { f: { nameContains: 'TES' } })).data.domains.totalCount, 1);
    assert.equal((await s.gql(q, { f: { nameContains: 'nope' } })).data.domains.totalCount, 0);
  });

  test('destroy then start is seen as STOPPED then STARTED over graphql-ws, with the state after each', async () => {
    const client = s.ws();
    const sub = collect(client, `subscription { domainEvents { cursor type detail synthetic domain { name state } } }`);
    // The subscription is live once the server has it registered; a round trip on the same socket proves that.
    await new Promise<void>((resolve, reject) =>
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
    );
    const id = domainGlobalId(TEST_DOMAIN_UUID);
    const action = `mutation($id: ID!) { a: %s(id: $id) { __typename ... on DomainActionSuccess { domain { state stateReason } } ... on Error { code message } } }`;
    const destroyed = await s.gql(action.replace('%s', 'destroyDomain'), { id });
    assert.deepEqual(destroyed.data.a, { __typename: 'DomainActionSuccess', domain: { state: 'SHUTOFF', stateReason: 'DESTROYED' } });
    const started = await s.gql(action.replace('%s', 'startDomain'), { id });
    assert.deepEqual(started.data.a, { __typename: 'DomainActionSuccess', domain: { state: 'RUNNING', stateReason: 'BOOTED' } });

    const events = (await sub.next(2)).map((e: any) => e.domainEvents);
    assert.deepEqual(
      events.map((e) => [e.type, e.detail, e.domain.state, e.synthetic]),
      [
        ['STOPPED', 'DESTROYED', 'SHUTOFF', false],
        ['STARTED', 'BOOTED', 'RUNNING', false],
      ],
    );
    assert.notEqual(events[0].cursor, events[1].cursor);
    sub.unsubscribe();
  });

  test('suspend and resume change state; a second resume is INVALID_STATE', async () => {
    const id = domainGlobalId(TEST_DOMAIN_UUID);
    const m = (f: string) =>
      s.gql(
        `mutation($id: ID!) { r: ${f}(id: $id) { __typename ... on DomainActionSuccess { domain { state } } ... on Error { code message } } }`,
        { id },
      );
    assert.equal((await m('suspendDomain')).data.r.domain.state, 'PAUSED');
    assert.equal((await m('resumeDomain')).data.r.domain.state, 'RUNNING');
    const again = (await m('resumeDomain')).data.r;
    assert.equal(again.__typename, 'InvalidStateError');
    assert.equal(again.code, 'INVALID_STATE');
    assert.match(again.message, /not paused|not valid/i);
  });

  test('an action on a missing domain is NOT_FOUND as data', async () => {
    const r = await s.gql(
      `mutation { startDomain(id: "${domainGlobalId('11111111-2222-3333-4444-555555555555')}") { __typename ... on Error { code } } }`,
    );
    assert.deepEqual(r.data.startDomain, { __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });

  test('connections page with stable cursors', async () => {
    const r = await s.gql(`{ domains(first: 0) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } }`);
    assert.equal(r.data.domains.totalCount, 1);
    assert.equal(r.data.domains.edges.length, 0);
    assert.equal(r.data.domains.pageInfo.hasNextPage, true);
    const all = await s.gql(`{ domains(first: 1) { edges { cursor } } }`);
    const rest = await s.gql(`query($a: String) { domains(first: 5, after: $a) { edges { cursor } pageInfo { hasNextPage } } }`, {
      a: all.data.domains.edges[0].cursor,
    });
    assert.deepEqual(rest.data.domains, { edges: [], pageInfo: { hasNextPage: false } });
  });

  test('a domain is shown by the name libvirt keeps, spaces around it included, before and after it starts', async () => {
    const bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    const uuid = '0b9a3c57-9d4c-4a5e-9f1e-2d7c1e0a6b11';
    try {
      await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'DomainDefineXML', 's', [
        `<domain type='test'><name> spaced out </name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`,
      ]);
      const q = `query($id: ID!) { node(id: $id) { ... on Domain { name state } } }`;
      const id = domainGlobalId(uuid);
      await until(async () => (await s.gql(q, { id })).data.node !== null);
      assert.deepEqual((await s.gql(q, { id })).data.node, { name: ' spaced out ', state: 'SHUTOFF' });
      const started = await s.gql(`mutation($id: ID!) { startDomain(id: $id) { ... on DomainActionSuccess { domain { name state } } } }`, {
        id,
      });
      assert.deepEqual(started.data.startDomain.domain, { name: ' spaced out ', state: 'RUNNING' });
      assert.deepEqual((await s.gql(q, { id })).data.node, { name: ' spaced out ', state: 'RUNNING' });
    } finally {
      const [path] = (await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [uuid])) as [string];
      await bus.call(path, 'org.libvirt.Domain', 'Destroy', 'u', [0]).catch(() => undefined);
      await bus.call(path, 'org.libvirt.Domain', 'Undefine', 'u', [0]);
      bus.disconnect();
    }
  });
});

async function until(ok: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('foundation: authentication', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.stop();
  });

  test('an anonymous or wrongly-tokened HTTP request is refused with UNAUTHENTICATED, before its document is validated', async () => {
    // Invalid documents too: validation errors would tell an anonymous caller about the schema.
    for (const query of [
      `{ domains { totalCount } }`,
      `{ nosuchfield }`,
      `mutation { createUser(input: { name: "x" }) { __typename } }`,
      `{`,
    ]) {
      for (const token of [null, 'vp_not-a-real-token']) {
        const r = await s.gql(query, {}, token);
        assert.equal(r.data, undefined);
        assert.deepEqual(
          r.errors?.map((e: { extensions?: { code?: string } }) => e.extensions?.code),
          ['UNAUTHENTICATED'],
          `${query}: ${JSON.stringify(r.errors)}`,
        );
        assert.equal(r.status, 401);
      }
    }
  });

  test('over graphql-ws, a document that does not parse or validate is refused with the code HTTP gives it', async () => {
    const client = s.ws();
    try {
      const codes = [];
      for (const query of ['subscription {', 'subscription { nosuch }']) {
        const errors = await new Promise<any[]>((resolve, reject) =>
          client.subscribe(
            { query },
            {
              next: () => reject(new Error('answered')),
              error: (e) => resolve(e as any[]),
              complete: () => reject(new Error('completed')),
            },
          ),
        );
        codes.push(errors.map((e) => [e.extensions?.code, e.extensions?.http]));
      }
      assert.deepEqual(codes, [[['GRAPHQL_PARSE_FAILED', undefined]], [['GRAPHQL_VALIDATION_FAILED', undefined]]]);
    } finally {
      await client.dispose();
    }
  });

  test('a WebSocket without a valid token is closed with 4403', async () => {
    const ws = new WebSocket(s.wsUrl, 'graphql-transport-ws');
    await within(new Promise((resolve) => ws.once('open', resolve)), 'the WebSocket opens');
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer wrong' } }));
    const code = await within(
      new Promise<number>((resolve) => ws.once('close', (c) => resolve(c))),
      'a WebSocket with a wrong token is closed',
    );
    assert.equal(code, 4403);
  });

  test('GET /healthz is 200 while libvirt answers', async () => {
    const res = await fetch(s.url.replace('/graphql', '/healthz'));
    assert.equal(res.status, 200);
  });
});
