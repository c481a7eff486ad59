import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addTenant } from '../helpers/tenants.js';
import { ADMIN_TOKEN, collect, startTestServer, type TestServer } from '../helpers/server.js';
import { runCli } from '../helpers/virtplane-cli.js';
import { ApiError, Viewer, VirtplaneClient } from '@virtplane/sdk';

const LIMIT = 5;

describe('rate limits: requests per tenant per minute (test driver)', () => {
  let s: TestServer;

  const post = (token: string, query = '{ viewer { name } }') =>
    fetch(s.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    });

  before(async () => {
    s = await startTestServer({
      rateLimitPerMinute: LIMIT,
      http: { maxBodyBytes: 1024 * 1024, corsOrigins: ['https://panel.example.com'] },
    });
  });
  after(async () => {
    await s.stop();
  });

  test('a tenant gets its minute’s requests, told what is left; the next one is 429 RATE_LIMITED with Retry-After, and not run', async () => {
    const alice = addTenant(s.dataDir, 'alice');
    for (let left = LIMIT - 1; left >= 0; left--) {
      const res = await post(alice.token);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('ratelimit-limit'), String(LIMIT));
      assert.equal(res.headers.get('ratelimit-policy'), `${LIMIT};w=60`);
      assert.equal(res.headers.get('ratelimit-remaining'), String(left));
      const reset = Number(res.headers.get('ratelimit-reset'));
      assert.ok(reset > 0 && reset <= 60, `reset in ${reset} s`);
      assert.deepEqual(await res.json(), { data: { viewer: { name: 'alice' } } });
    }
    // A mutation past the limit is refused before it runs: no audit row for it.
    const audited = async () => (await s.gql(`{ auditLog(first: 1000) { totalCount } }`)).data.auditLog.totalCount;
    const before = await audited();
    const refused = await post(
      alice.token,
      `mutation { createDomain(input: { name: "x", vcpus: 1, memoryMiB: 64, diskGiB: 1, network: "default" }) { __typename } }`,
    );
    assert.equal(refused.status, 429);
    const wait = Number(refused.headers.get('retry-after'));
    assert.ok(wait > 0 && wait <= 60, `Retry-After ${wait}`);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    const body = (await refused.json()) as { errors: { message: string; extensions: { code: string } }[] };
    assert.equal(body.errors[0]!.extensions.code, 'RATE_LIMITED');
    assert.match(body.errors[0]!.message, new RegExp(`more than ${LIMIT} requests in a minute`));
    assert.equal(await audited(), before, 'the refused mutation was never run');

    // The SDK throws it with how long to wait; told to wait less than that, it does not wait.
    const sdk = new VirtplaneClient({ url: s.url, token: alice.token, rateLimitWaitSeconds: 0.5 });
    const started = Date.now();
    const thrown = await sdk.request(Viewer).then(
      () => null,
      (err: unknown) => err,
    );
    assert.ok(thrown instanceof ApiError && thrown.code === 'RATE_LIMITED', String(thrown));
    const retryAfter = Number(thrown.details.retryAfterSeconds);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retryAfterSeconds ${retryAfter}`);
    assert.ok(Date.now() - started < 400, 'no wait when the wait would exceed what it was allowed');

    // Every other way in is held to it too: an upload (refused before its claim, so no audit row), a new
    // WebSocket (closed with 4429, not 4403: the token is fine), and a page of an allowed origin can read why.
    const upload = await fetch(`${new URL(s.url).origin}/uploads/images/anything`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${alice.token}`, 'content-length': '1' },
      body: 'x',
    });
    assert.equal(upload.status, 429);
    assert.equal(await audited(), before, 'no audit row for the refused upload');
    const closed = await new Promise<{ code: number; reason: string }>((done) => {
      const socket = new WebSocket(s.wsUrl, 'graphql-transport-ws');
      socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${alice.token}` } }));
      socket.onclose = (e) => done({ code: e.code, reason: e.reason });
    });
    assert.equal(closed.code, 4429, closed.reason);
    const crossOrigin = await fetch(s.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}`, origin: 'https://panel.example.com' },
      body: JSON.stringify({ query: '{ viewer { name } }' }),
    });
    assert.equal(crossOrigin.status, 429);
    assert.equal(crossOrigin.headers.get('access-control-allow-origin'), 'https://panel.example.com');
    assert.match(crossOrigin.headers.get('access-control-expose-headers') ?? '', /retry-after/);

    // The command line says so with its "over a limit" exit code.
    const home = mkdtempSync(join(tmpdir(), 'vp-rate-cli-'));
    try {
      const cli = await runCli(['domain', 'list'], { configHome: home, env: { VIRTPLANE_URL: s.url, VIRTPLANE_TOKEN: alice.token } });
      assert.equal(cli.status, 8, cli.stderr);
      assert.match(cli.stderr, /RATE_LIMITED/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('over a WebSocket, the connection and each operation count; one past the limit is answered RATE_LIMITED', async () => {
    const dave = addTenant(s.dataDir, 'dave');
    const client = s.ws(dave.token);
    // A subscription keeps the (lazy) connection open: the connection and it take two.
    const held = collect(client, `subscription { domainEvents { cursor } }`);
    const ask = () => collect(client, `query { viewer { name } }`).next(1);
    for (let i = 0; i < LIMIT - 2; i++) assert.deepEqual(await ask(), [{ viewer: { name: 'dave' } }]);
    await assert.rejects(ask(), /RATE_LIMITED/);
    assert.deepEqual(held.errors, [], 'what was already open stays open');
    held.unsubscribe();
  });

  test('each tenant has its own minute, shared by all its tokens; admins are not limited', async () => {
    const bob = addTenant(s.dataDir, 'bob');
    const carol = addTenant(s.dataDir, 'carol');
    const second = await s.gql(
      `mutation($u: ID!) { createApiToken(userId: $u, label: "two") { ... on CreateApiTokenSuccess { token } } }`,
      { u: Buffer.from(`User:${bob.id}`).toString('base64') },
    );
    const bobsOther: string = second.data.createApiToken.token;
    for (let i = 0; i < LIMIT; i++) assert.equal((await post(i % 2 ? bobsOther : bob.token)).status, 200);
    assert.equal((await post(bobsOther)).status, 429, 'another token of the same user gives no more room');
    assert.equal((await post(carol.token)).status, 200, 'another tenant is not held back');
    for (let i = 0; i < LIMIT * 3; i++) {
      const res = await post(ADMIN_TOKEN);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('ratelimit-limit'), null);
    }
  });
});
