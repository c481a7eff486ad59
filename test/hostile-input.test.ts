import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addTenant } from './helpers/tenants.js';
import { domainGlobalId, startTestServer, type TestServer } from './helpers/server.js';

const TEST_DOMAIN = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');

function codes(r: { errors?: { extensions?: Record<string, unknown> }[] }): unknown[] {
  return (r.errors ?? []).map((e) => e.extensions?.code);
}

/** The audit's hostile requests, kept as tests: each gets a clean, typed refusal and costs no other client anything. */
describe('hostile input: list arguments, filters', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    // Some history to filter: the test driver's domain stops and starts.
    for (const action of ['destroyDomain', 'startDomain']) {
      const r = await s.gql(`mutation($id: ID!) { a: ${action}(id: $id) { __typename } }`, { id: TEST_DOMAIN });
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    }
  });
  after(async () => {
    await s.stop();
  });

  test('nodes(ids:) with more IDs than the bound is BAD_USER_INPUT, and a list within it still answers', async () => {
    const many = Array.from({ length: 101 }, () => TEST_DOMAIN);
    const r = await s.gql('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: many });
    assert.deepEqual(codes(r), ['BAD_USER_INPUT'], JSON.stringify(r.errors));
    const ok = await s.gql('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: many.slice(0, 100) });
    assert.equal(ok.errors, undefined, JSON.stringify(ok.errors));
    assert.equal(ok.data.nodes.length, 100, 'every ID within the bound is answered');
  });

  test('an events type filter of 50,000 entries is BAD_USER_INPUT, not an internal error; repeated types within the bound are fine', async () => {
    const types = Array.from({ length: 50_000 }, () => 'STOPPED');
    const r = await s.gql('query($t: [DomainEventType!]) { events(filter: { types: $t }) { totalCount } }', { t: types });
    assert.deepEqual(codes(r), ['BAD_USER_INPUT'], JSON.stringify(r.errors));
    const few = await s.gql('query($t: [DomainEventType!]) { events(filter: { types: $t }) { totalCount edges { node { type } } } }', {
      t: Array.from({ length: 100 }, () => 'STOPPED'),
    });
    assert.equal(few.errors, undefined, JSON.stringify(few.errors));
    assert.ok(few.data.events.totalCount >= 1, 'the STOPPED event is found');
    assert.ok(few.data.events.edges.every((e: { node: { type: string } }) => e.node.type === 'STOPPED'), 'only STOPPED events');
  });

  test('domainEvents and networkEvents type filters of 50,000 entries end the subscription with BAD_USER_INPUT', async () => {
    // Resumed from the oldest event, so that without a bound the replay's SQL would meet the whole list.
    const first = await s.gql('{ events(first: 1) { edges { cursor } } }');
    const after = first.data.events.edges[0].cursor as string;
    const client = s.ws();
    for (const [query, types] of [
      ['subscription($t: [DomainEventType!], $a: String) { domainEvents(types: $t, after: $a) { cursor } }', 'STOPPED'],
      ['subscription($t: [NetworkEventType!], $a: String) { networkEvents(types: $t, after: $a) { cursor } }', 'STARTED'],
    ] as const) {
      const errors = await new Promise<readonly { extensions?: Record<string, unknown> }[]>((resolve, reject) => {
        client.subscribe(
          { query, variables: { a: after, t: Array.from({ length: 50_000 }, () => types) } },
          { next: (v) => resolve(v.errors ?? []), error: (e) => (Array.isArray(e) ? resolve(e) : reject(e)), complete: () => resolve([]) },
        );
      });
      assert.deepEqual(errors.map((e) => e.extensions?.code), ['BAD_USER_INPUT'], JSON.stringify(errors));
    }
  });

  test('an empty domainId or ownerId filter matches nothing (as a malformed one does), not everything', async () => {
    const all = await s.gql('{ events { totalCount } }');
    assert.ok(all.data.events.totalCount > 0, 'there are events to leak');
    for (const filter of ['{ domainId: "" }', '{ ownerId: "" }']) {
      const r = await s.gql(`{ events(filter: ${filter}) { totalCount edges { cursor } } }`);
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.equal(r.data.events.totalCount, 0, `${filter} matches no event`);
      assert.equal(r.data.events.edges.length, 0, `${filter} returns no event`);
    }
  });

  test("a tenant's empty ownerId filter shows none of another tenant's (or anyone's) events", async () => {
    const tenant = addTenant(s.dataDir, 'hostile-empty-owner');
    const r = await s.gql('{ events(filter: { ownerId: "" }) { totalCount } }', {}, tenant.token);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    assert.equal(r.data.events.totalCount, 0, 'nothing matches');
  });
});
