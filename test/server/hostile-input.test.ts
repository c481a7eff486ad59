import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { addTenant } from '../helpers/tenants.js';
import { ADMIN_TOKEN, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';

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
    assert.ok(
      few.data.events.edges.every((e: { node: { type: string } }) => e.node.type === 'STOPPED'),
      'only STOPPED events',
    );
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
          {
            next: (v) => resolve(v.errors ?? []),
            error: (e) =>
              Array.isArray(e) ? resolve(e) : reject(e instanceof Error ? e : new Error('the subscription ended', { cause: e })),
            complete: () => resolve([]),
          },
        );
      });
      assert.deepEqual(
        errors.map((e) => e.extensions?.code),
        ['BAD_USER_INPUT'],
        JSON.stringify(errors),
      );
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

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Body bytes the client had written when the answer came. */
  sent: number;
}

/**
 * POSTs a body of `total` bytes in 64 KiB chunks, stopping as soon as the server answers (or drops the
 * connection): how much was sent by then tells whether the server judged the request before reading its body.
 */
async function postRaw(url: string, headers: Record<string, string | number>, total: number, fill = ' '): Promise<RawAnswer> {
  const req = request(url, { method: 'POST', headers: { 'content-length': total, ...headers } });
  let answered: IncomingMessage | null = null;
  let failed: Error | null = null;
  const settled = new Promise<void>((resolve) => {
    req.on('response', (r) => {
      answered = r;
      resolve();
    });
    req.on('error', (e) => {
      failed = e;
      resolve();
    });
  });
  req.flushHeaders();
  const chunk = Buffer.alloc(64 * 1024, fill);
  let sent = 0;
  while (!answered && !failed && sent < total) {
    const n = Math.min(chunk.length, total - sent);
    await Promise.race([new Promise((r) => req.write(chunk.subarray(0, n), r)), settled]);
    if (!answered && !failed) sent += n;
  }
  if (!answered && !failed) req.end();
  await settled;
  const res = answered as IncomingMessage | null;
  if (!res) throw new Error(`no answer: ${String(failed)}`);
  let body = '';
  for await (const part of res) body += part;
  req.destroy();
  return { status: res.statusCode!, headers: res.headers, body, sent };
}

describe('hostile input: request bodies and cross-site requests', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ http: { maxBodyBytes: 1024 * 1024, corsOrigins: [] } });
  });
  after(async () => {
    await s.stop();
  });

  test('an anonymous 24 MB body is answered 401 before the client has sent it (the body is never read)', async () => {
    const total = 24 * 1024 * 1024;
    const r = await postRaw(s.url, { 'content-type': 'application/json' }, total);
    assert.equal(r.status, 401, r.body);
    assert.equal(JSON.parse(r.body).errors[0].extensions.code, 'UNAUTHENTICATED', r.body);
    assert.ok(r.sent < total, `answered after ${r.sent} of ${total} bytes: the server did not wait for the body`);
  });

  test('an authenticated body over the limit (24 MB against 1 MiB) gets 413 with a GraphQL error, before it is read; one within it is served', async () => {
    const total = 24 * 1024 * 1024; // more than loopback socket buffers hold, so an unread body stalls the client
    const r = await postRaw(s.url, { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, total);
    assert.equal(r.status, 413, r.body);
    assert.equal(JSON.parse(r.body).errors[0].extensions.code, 'PAYLOAD_TOO_LARGE', r.body);
    assert.ok(r.sent < total, `answered after ${r.sent} of ${total} bytes`);
    const padded = JSON.stringify({ query: `{ __typename }${' '.repeat(512 * 1024)}` });
    const ok = await fetch(s.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: padded,
    });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(await ok.json(), { data: { __typename: 'Query' } });
  });

  test('a WebSocket message over the body limit closes the connection (1009) before it is buffered or parsed', async () => {
    const socket = new WebSocket(s.wsUrl, 'graphql-transport-ws');
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.on('error', () => {}); // the server ends the connection mid-message
    socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
    assert.equal(await closed, 1009, 'closed as too big');
  });

  test('form-encoded, multipart and text/plain POSTs are refused (415) and run nothing', async () => {
    const mutation = (name: string) => `mutation { createUser(input: { name: "${name}", role: TENANT }) { __typename } }`;
    const form = new FormData();
    form.set('query', mutation('csrf-multipart'));
    const attempts: [string, RequestInit][] = [
      ['csrf-form', { body: new URLSearchParams({ query: mutation('csrf-form') }) }],
      ['csrf-multipart', { body: form }],
      ['csrf-text', { body: JSON.stringify({ query: mutation('csrf-text') }), headers: { 'content-type': 'text/plain' } }],
    ];
    for (const [name, init] of attempts) {
      const res = await fetch(s.url, {
        method: 'POST',
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const text = await res.text();
      assert.equal(res.status, 415, `${name}: ${text}`);
      assert.equal(JSON.parse(text).errors[0].extensions.code, 'BAD_REQUEST', text);
    }
    const users = await s.gql('{ users(first: 1000) { edges { node { name } } } }');
    const names = users.data.users.edges.map((e: { node: { name: string } }) => e.node.name);
    assert.ok(!names.some((n: string) => n.startsWith('csrf-')), `no user was created: ${names.join(', ')}`);
  });

  test('by default no Origin is allowed: no Access-Control-Allow-Origin on a preflight or a request', async () => {
    const preflight = await fetch(s.url, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null, 'the preflight allows no origin');
    const res = await fetch(s.url, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    assert.equal(res.headers.get('access-control-allow-origin'), null, 'the answer allows no origin');
  });
});

describe('hostile input: configured CORS origins', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ http: { maxBodyBytes: 1024 * 1024, corsOrigins: ['https://ui.example.com', 'https://ops.example.com'] } });
  });
  after(async () => {
    await s.stop();
  });

  test('a listed origin is allowed, another is not', async () => {
    const preflight = (origin: string) =>
      fetch(s.url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const listed = await preflight('https://ops.example.com');
    assert.equal(listed.headers.get('access-control-allow-origin'), 'https://ops.example.com', 'a listed origin is allowed');
    const other = await preflight('https://evil.example');
    assert.notEqual(other.headers.get('access-control-allow-origin'), 'https://evil.example', 'an unlisted origin is not echoed');
    assert.ok([null, 'null'].includes(other.headers.get('access-control-allow-origin')), 'an unlisted origin gets no allowance');
  });
});

describe('hostile input: values checked before they reach libvirt or the database', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.stop();
  });

  test('addImage with a NUL or a control character in its path is a VALIDATION error on "path", not LIBVIRT_ERROR', async () => {
    // In the directory of an active dir pool (the server's own), so that libvirt would be asked about the file.
    const dir = join(s.dataDir, 'storage');
    for (const path of [`${dir}/a\u0000.iso`, `${dir}/\u001b[2Ja.iso`, `${dir}/${'a'.repeat(5000)}.iso`, 'relative.iso']) {
      const r = await s.gql(
        'mutation($p: String!) { addImage(name: "hostile", path: $p) { __typename ... on ValidationError { code field } ... on Error { code message } } }',
        { p: path },
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      const { __typename, code, field } = r.data.addImage;
      assert.deepEqual(
        { __typename, code, field },
        { __typename: 'ValidationError', code: 'VALIDATION', field: 'path' },
        `${JSON.stringify(path.slice(0, 40))}: ${JSON.stringify(r.data)}`,
      );
    }
  });

  test('DateTime takes RFC 3339 date-times only: "March 7", a bare date and a day that does not exist are BAD_USER_INPUT', async () => {
    const q = 'query($t: DateTime) { auditLog(filter: { since: $t }) { totalCount } }';
    for (const t of ['March 7', '2026-03-07', '2026-02-30T00:00:00Z', '2026-03-07 10:00', '1']) {
      const r = await s.gql(q, { t });
      assert.deepEqual(codes(r), ['BAD_USER_INPUT'], `${t}: ${JSON.stringify(r.errors)}`);
    }
    for (const t of ['2026-03-07T10:00:00Z', '2026-03-07T11:00:00.123+01:00']) {
      const r = await s.gql(q, { t });
      assert.equal(r.errors, undefined, `${t}: ${JSON.stringify(r.errors)}`);
    }
  });

  test('token labels with control, bidi-override or zero-width characters, or over 100 characters, are refused (VALIDATION on "label")', async () => {
    const viewer = await s.gql('{ viewer { id } }');
    const userId = viewer.data.viewer.id as string;
    const q = 'mutation($u: ID!, $l: String!) { createApiToken(userId: $u, label: $l) { __typename ... on ValidationError { field } } }';
    for (const label of ['ci\u202Etxt.exe', 'ci\u0007', 'ci\u200B', 'ci\nroot', 'x'.repeat(101), '']) {
      const r = await s.gql(q, { u: userId, l: label });
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.deepEqual(
        r.data.createApiToken,
        { __typename: 'ValidationError', field: 'label' },
        `${JSON.stringify(label)}: ${JSON.stringify(r.data)}`,
      );
    }
    const ok = await s.gql(q, { u: userId, l: 'ci für Käthe 🚀' });
    assert.equal(ok.data.createApiToken.__typename, 'CreateApiTokenSuccess', JSON.stringify(ok.data));
  });

  test('one failing root field answers null with its error; the others still answer (a tenant asking viewer and auditLog)', async () => {
    const tenant = addTenant(s.dataDir, 'hostile-partial');
    const r = await s.gql('{ viewer { name } auditLog(first: 1) { totalCount } }', {}, tenant.token);
    assert.equal(r.data?.viewer?.name, 'hostile-partial', JSON.stringify(r));
    assert.equal(r.data.auditLog, null, 'the forbidden field is null');
    assert.deepEqual(codes(r), ['FORBIDDEN'], JSON.stringify(r.errors));
    assert.deepEqual(r.errors![0]!.path, ['auditLog'], 'the error names its field');
  });
});
