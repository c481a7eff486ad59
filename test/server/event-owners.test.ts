import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'graphql-ws';
import { collect, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';
import { within } from '../helpers/within.js';

/**
 * A domain that changes hands keeps its history with whoever owned it when each event happened. Bob creates,
 * starts and stops a domain; an admin gives it to Alice; Alice starts it.
 */

const TEST_DOMAIN = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f'); // the test driver's own, owned by nobody
const QUOTA = { maxDomains: 5, maxVcpus: 10, maxMemoryMiB: 10_000, maxDiskGiB: 100, maxInterfaces: 5 };
const SUB = `subscription($after: String, $d: ID) { domainEvents(after: $after, domainId: $d) { cursor type domain { name state } } }`;

interface Tenant {
  id: string;
  token: string;
}

type Ev = { cursor: string; type: string; domain: { name: string; state: string } };

/** Resolves once every message sent on this socket before it has been handled (graphql-ws handles in order). */
function roundTrip(client: Client): Promise<void> {
  const answered = new Promise<void>((resolve, reject) =>
    client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
  );
  return within(answered, 'the server answers a query sent after the subscriptions on the same socket');
}

describe('events of a domain that changed hands', () => {
  let s: TestServer;
  let bob: Tenant;
  let alice: Tenant;
  let domainId: string;
  /** A cursor from before Bob's domain existed. */
  let start: string;
  let bobLive: Awaited<ReturnType<typeof live>>;
  let aliceLive: Awaited<ReturnType<typeof live>>;

  async function tenant(name: string): Promise<Tenant> {
    const u = await s.gql(`mutation($i: CreateUserInput!) { createUser(input: $i) { ... on CreateUserSuccess { user { id } } } }`, {
      i: { name, role: 'TENANT' },
    });
    const id = u.data.createUser.user.id;
    const t = await s.gql(`mutation($u: ID!) { createApiToken(userId: $u, label: "t") { ... on CreateApiTokenSuccess { token } } }`, {
      u: id,
    });
    await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, { u: id, q: QUOTA });
    return { id, token: t.data.createApiToken.token };
  }

  async function act(action: string, token?: string): Promise<void> {
    const r = await s.gql(
      `mutation($id: ID!) { a: ${action}(id: $id) { __typename ... on Error { code message } } }`,
      { id: domainId },
      token,
    );
    assert.equal(r.data?.a?.__typename, 'DomainActionSuccess', JSON.stringify(r));
  }

  async function live(token: string) {
    const client = s.ws(token);
    const sub = collect<{ domainEvents: Ev }>(client, SUB);
    await roundTrip(client);
    return { ...sub, client };
  }

  const history = async (token: string | undefined) =>
    (
      await s.gql(
        `query($d: ID) { events(first: 100, filter: { domainId: $d }) { edges { node { type domain { name } } } } }`,
        { d: domainId },
        token,
      )
    ).data.events.edges.map((e: any) => [e.node.type, e.node.domain.name]);

  before(async () => {
    s = await startTestServer();
    bob = await tenant('bob');
    alice = await tenant('alice');
    for (const a of ['suspendDomain', 'resumeDomain'])
      await s.gql(`mutation($id: ID!) { ${a}(id: $id) { __typename } }`, { id: TEST_DOMAIN });
    start = (await s.gql(`{ events(first: 100) { pageInfo { endCursor } } }`)).data.events.pageInfo.endCursor;
    assert.ok(start, 'the log has events to start after');
    bobLive = await live(bob.token);
    aliceLive = await live(alice.token);

    const made = await s.gql(
      `mutation($i: CreateDomainInput!) { createDomain(input: $i) { ... on CreateDomainSuccess { domain { id } } ... on Error { code message } } }`,
      { i: { name: 'bob-vm', vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', start: true } },
      bob.token,
    );
    domainId = made.data.createDomain.domain.id;
    await act('destroyDomain', bob.token);
    await bobLive.next(3);

    const given = await s.gql(`mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename } }`, {
      id: domainId,
      u: alice.id,
    });
    assert.equal(given.data.assignDomain.__typename, 'AssignDomainSuccess');
    await act('startDomain', alice.token);
    await aliceLive.next(1);
  });
  after(async () => {
    await s.stop();
  });

  test('each owner sees its own part of the history, live, replayed and listed; neither sees the other’s', async () => {
    // (DEFINED's state is whatever the re-read found: with start: true, sometimes RUNNING already.)
    const bobs = [
      ['DEFINED', 'bob-vm'],
      ['STARTED', 'bob-vm'],
      ['STOPPED', 'bob-vm'],
    ];
    // Alice's part begins with the hand-over: announced to her (libvirt signals none) as a synthetic DEFINED.
    const alices = [
      ['DEFINED', 'bob-vm'],
      ['STARTED', 'bob-vm'],
    ];
    assert.deepEqual(await history(bob.token), bobs);
    assert.deepEqual(await history(alice.token), alices);
    assert.deepEqual(await history(undefined), [...bobs, ...alices]);
    const handOver = await s.gql(
      `query($d: ID) { events(first: 1, filter: { domainId: $d, types: [DEFINED] }) { edges { node { detail synthetic } } } }`,
      { d: domainId },
      alice.token,
    );
    assert.deepEqual(handOver.data.events.edges[0].node, { detail: 'UPDATED', synthetic: true });

    // Replayed from before the domain existed, for everything and for this one domain.
    for (const d of [null, domainId]) {
      const bobReplay = collect<{ domainEvents: Ev }>(s.ws(bob.token), SUB, { after: start, d });
      const aliceReplay = collect<{ domainEvents: Ev }>(s.ws(alice.token), SUB, { after: start, d });
      assert.deepEqual(
        (await bobReplay.next(3)).map((i) => [i.domainEvents.type, i.domainEvents.domain.name]),
        bobs,
      );
      assert.deepEqual(
        (await aliceReplay.next(2)).map((i) => [i.domainEvents.type, i.domainEvents.domain.name]),
        alices,
      );
      bobReplay.unsubscribe();
      aliceReplay.unsubscribe();
    }

    // Live: what happens after the reassignment is Alice's alone; Bob's stream, open all along, got only his.
    await act('suspendDomain', alice.token);
    await aliceLive.next(3);
    await roundTrip(bobLive.client); // anything sent to Bob's stream before now has arrived
    assert.deepEqual(
      bobLive.items.map((i) => [i.domainEvents.type, i.domainEvents.domain.name]),
      bobs,
    );
    assert.deepEqual(
      aliceLive.items.map((i) => i.domainEvents.type),
      ['DEFINED', 'STARTED', 'SUSPENDED'],
    );
  });

  test('ownerId is the owner’s User.id: it is shown as one, filters by one, and node(id:) finds the user', async () => {
    const q = `query($f: DomainEventFilter) { events(first: 100, filter: $f) { edges { node { type ownerId } } } }`;
    const owners = async (ownerId: string, token?: string) =>
      (await s.gql(q, { f: { domainId, ownerId } }, token)).data.events.edges.map((e: any) => [e.node.type, e.node.ownerId]);
    assert.deepEqual(await owners(bob.id), [
      ['DEFINED', bob.id],
      ['STARTED', bob.id],
      ['STOPPED', bob.id],
    ]);
    assert.deepEqual(await owners(alice.id), [
      ['DEFINED', alice.id],
      ['STARTED', alice.id],
      ['SUSPENDED', alice.id],
    ]);
    assert.deepEqual(await owners(bob.id, bob.token), [
      ['DEFINED', bob.id],
      ['STARTED', bob.id],
      ['STOPPED', bob.id],
    ]);
    // Another user's, a malformed ID and an ID of another type match nothing, as other ID filters do.
    assert.deepEqual(await owners(alice.id, bob.token), []);
    const rawUuid = Buffer.from(bob.id, 'base64').toString().split(':')[1]!;
    for (const bad of ['not-an-id', domainId, rawUuid]) assert.deepEqual(await owners(bad), [], bad);

    const user = await s.gql(`query($id: ID!) { node(id: $id) { ... on User { name } } }`, { id: (await owners(bob.id))[0][1] });
    assert.deepEqual(user.data.node, { name: 'bob' });

    const replay = collect<any>(
      s.ws(),
      `subscription($after: String, $o: ID) { domainEvents(after: $after, ownerId: $o) { type ownerId } }`,
      { after: start, o: bob.id },
    );
    assert.deepEqual(
      (await replay.next(3)).map((i) => [i.domainEvents.type, i.domainEvents.ownerId]),
      [
        ['DEFINED', bob.id],
        ['STARTED', bob.id],
        ['STOPPED', bob.id],
      ],
    );
    replay.unsubscribe();
  });

  test('an event’s domain shows the owner it had then; the domain itself shows its owner now', async () => {
    const q = `query($d: ID) { events(first: 100, filter: { domainId: $d }) { edges { node { type domain { owner { name } } } } } }`;
    const owners = async (token?: string) =>
      (await s.gql(q, { d: domainId }, token)).data.events.edges.map((e: any) => [e.node.type, e.node.domain.owner?.name ?? null]);
    const bobs = [
      ['DEFINED', 'bob'],
      ['STARTED', 'bob'],
      ['STOPPED', 'bob'],
    ];
    const alices = [
      ['DEFINED', 'alice'],
      ['STARTED', 'alice'],
      ['SUSPENDED', 'alice'],
    ];
    assert.deepEqual(await owners(), [...bobs, ...alices]);
    assert.deepEqual(await owners(bob.token), bobs);
    assert.deepEqual(await owners(alice.token), alices);

    const now = await s.gql(`query($d: ID!) { node(id: $d) { ... on Domain { owner { name } } } }`, { d: domainId });
    assert.deepEqual(now.data.node, { owner: { name: 'alice' } });
  });

  test('events(…) { totalCount } counts what the filter matches among the events the viewer may see, on every page', async () => {
    const q = `query($f: DomainEventFilter, $after: String) {
      events(first: 1, after: $after, filter: $f) { totalCount edges { cursor } pageInfo { hasNextPage } } }`;
    const count = async (f: Record<string, unknown>, token?: string, after?: string) => {
      const r = await s.gql(q, { f, after }, token);
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      return r.data.events.totalCount;
    };
    assert.equal(await count({ domainId }), 6);
    assert.equal(await count({ domainId }, bob.token), 3);
    assert.equal(await count({ domainId }, alice.token), 3);
    assert.equal(await count({ domainId, types: ['STARTED'] }), 2);
    assert.equal(await count({ ownerId: bob.id }), 3);
    assert.equal(await count({ ownerId: alice.id }, bob.token), 0);
    assert.equal(await count({ domainId: 'not-an-id' }), 0);
    // Everything Bob may see is this domain's first three events; the test domain's are no one's.
    assert.equal(await count({}, bob.token), 3);
    assert.equal(await count({}), 8);
    // The count is of the whole filtered list, not of what follows the cursor.
    const first = (await s.gql(q, { f: { domainId } }, bob.token)).data.events;
    assert.equal(first.pageInfo.hasNextPage, true);
    assert.equal(await count({ domainId }, bob.token, first.edges[0].cursor), 3);
  });
});
