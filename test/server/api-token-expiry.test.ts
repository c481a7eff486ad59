import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collect, startTestServer, type TestServer } from '../helpers/server.js';

const CREATE_USER = 'mutation($n: String!) { createUser(input: { name: $n, role: TENANT }) { ... on CreateUserSuccess { user { id } } } }';
const CREATE_TOKEN = `mutation($u: ID!, $at: DateTime) { createApiToken(userId: $u, label: "expiring", expiresAt: $at) {
  __typename ... on CreateApiTokenSuccess { token apiToken { id expiresAt lastUsedAt } } ... on ValidationError { field } } }`;
const TOKEN = 'query($id: ID!) { node(id: $id) { ... on ApiToken { expiresAt lastUsedAt } } }';

describe('API tokens: optional expiry, last use', () => {
  let s: TestServer;
  let userId: string;
  before(async () => {
    s = await startTestServer();
    userId = (await s.gql(CREATE_USER, { n: 'expiring-tenant' })).data.createUser.user.id;
  });
  after(async () => {
    await s.stop();
  });

  test('an expiry in the past is refused (VALIDATION on expiresAt); without one a token never expires', async () => {
    const past = await s.gql(CREATE_TOKEN, { u: userId, at: new Date(Date.now() - 1000).toISOString() });
    assert.deepEqual(past.data.createApiToken, { __typename: 'ValidationError', field: 'expiresAt' }, JSON.stringify(past));
    const forever = await s.gql(CREATE_TOKEN, { u: userId });
    assert.equal(forever.data.createApiToken.apiToken.expiresAt, null, 'no expiry');
  });

  test('lastUsedAt is null until the token is used, then set; it is written at most once a minute', async () => {
    const made = (await s.gql(CREATE_TOKEN, { u: userId })).data.createApiToken;
    assert.equal(made.apiToken.lastUsedAt, null, 'never used yet');
    const before = Date.now();
    assert.equal((await s.gql('{ viewer { name } }', {}, made.token)).data.viewer.name, 'expiring-tenant');
    const first = (await s.gql(TOKEN, { id: made.apiToken.id })).data.node.lastUsedAt as string;
    assert.ok(first && Date.parse(first) >= before - 1000, `lastUsedAt set by the request: ${first}`);
    assert.equal((await s.gql('{ viewer { name } }', {}, made.token)).data.viewer.name, 'expiring-tenant');
    assert.equal(
      (await s.gql(TOKEN, { id: made.apiToken.id })).data.node.lastUsedAt,
      first,
      'a second use within the minute writes nothing',
    );
  });

  test('an expired token is refused like a revoked one: UNAUTHENTICATED over HTTP, its open WebSocket closed with 4401, a new one with 4403', async () => {
    // Long enough to open a subscription first; the test then waits for the server's own close, not a clock.
    const at = new Date(Date.now() + 1500);
    const made = (await s.gql(CREATE_TOKEN, { u: userId, at: at.toISOString() })).data.createApiToken;
    assert.equal(made.apiToken.expiresAt, at.toISOString(), 'the expiry is shown');
    const client = s.ws(made.token);
    const closed = new Promise<number>((resolve) => client.on('closed', (ev) => resolve((ev as { code: number }).code)));
    collect(client, 'subscription { domainEvents { type } }');
    await new Promise<void>((resolve, reject) =>
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
    );
    assert.equal(await closed, 4401, 'the open connection is closed when the token expires');
    assert.ok(Date.now() >= at.getTime(), 'not before the expiry');

    const r = await s.gql('{ viewer { name } }', {}, made.token);
    assert.equal(r.status, 401, JSON.stringify(r));
    assert.deepEqual(
      r.errors?.map((e) => e.extensions?.code),
      ['UNAUTHENTICATED'],
      JSON.stringify(r),
    );

    const again = s.ws(made.token);
    const refused = new Promise<number>((resolve) => again.on('closed', (ev) => resolve((ev as { code: number }).code)));
    again.subscribe({ query: '{ __typename }' }, { next: () => {}, error: () => {}, complete: () => {} });
    assert.equal(await refused, 4403, 'a new connection with the expired token is refused');
  });
});
