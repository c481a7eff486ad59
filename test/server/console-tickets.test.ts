import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';

const QUOTA = { maxDomains: 4, maxVcpus: 4, maxMemoryMiB: 1024, maxDiskGiB: 4, maxInterfaces: 4 };
/** Tickets of this server are redeemable this long, so "late" needs no 30 s wait. */
const TTL_MS = 3000;
const TICKET = `mutation($d: ID!, $k: ConsoleKind!) { r: createConsoleTicket(domainId: $d, kind: $k) { __typename
  ... on ConsoleTicketSuccess { ticket expiresAt pageUrl websocketUrl } ... on Error { code message } } }`;

interface Closed {
  code: number;
  reason: string;
}

/** Opens a WebSocket on the URL and answers how the server closed it. */
function closeOf(url: string): Promise<Closed> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', reject);
  });
}

/**
 * Every rule of a console ticket, on the test driver. A ticket that passes every rule gets as far as libvirt,
 * where the test driver refuses OpenGraphicsFD (4415, "no console of this kind"): so each refusal below is
 * the rule's own, not a console that failed anyway.
 */
describe('console tickets', () => {
  let s: TestServer;
  let bob: { id: string; token: string; tokenId: string };
  let alice: { id: string; token: string; tokenId: string };
  let domainId = '';
  let otherDomainId = '';
  const logLines: string[] = [];
  const issued: string[] = [];

  async function tenant(name: string) {
    const u = await s.gql(`mutation($i: CreateUserInput!) { createUser(input: $i) { ... on CreateUserSuccess { user { id } } } }`, {
      i: { name, role: 'TENANT' },
    });
    const id = u.data.createUser.user.id;
    const t = await s.gql(
      `mutation($u: ID!) { createApiToken(userId: $u, label: "t") { ... on CreateApiTokenSuccess { token apiToken { id } } } }`,
      { u: id },
    );
    await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, { u: id, q: QUOTA });
    return { id, token: t.data.createApiToken.token as string, tokenId: t.data.createApiToken.apiToken.id as string };
  }

  async function newToken(userId: string) {
    const t = await s.gql(
      `mutation($u: ID!) { createApiToken(userId: $u, label: "t2") { ... on CreateApiTokenSuccess { token apiToken { id } } } }`,
      { u: userId },
    );
    return { token: t.data.createApiToken.token as string, tokenId: t.data.createApiToken.apiToken.id as string };
  }

  async function createVm(name: string, token: string): Promise<string> {
    const made = await s.gql(
      `mutation($i: CreateDomainInput!) { createDomain(input: $i) { ... on CreateDomainSuccess { domain { id } } ... on Error { code message } } }`,
      { i: { name, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', start: true } },
      token,
    );
    assert.ok(made.data?.createDomain?.domain, JSON.stringify(made));
    return made.data.createDomain.domain.id;
  }

  async function ticket(token: string, d = domainId, kind = 'GRAPHICS') {
    const r = await s.gql(TICKET, { d, k: kind }, token);
    assert.equal(r.data?.r?.__typename, 'ConsoleTicketSuccess', JSON.stringify(r));
    issued.push(r.data.r.ticket);
    return r.data.r as { ticket: string; expiresAt: string; pageUrl: string; websocketUrl: string };
  }

  /** The ticket's WebSocket URL with one query parameter replaced. */
  function withParam(url: string, name: string, value: string): string {
    const u = new URL(url);
    u.searchParams.set(name, value);
    return u.toString();
  }

  const ACCEPTED = 4415; // every ticket rule passed; the test driver has no OpenGraphicsFD

  before(async () => {
    // Every log line, at the most verbose level, is kept: no ticket may be in any of them.
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    s = await startTestServer({ console: { sshTunnel: true, publicUrl: null, ticketTtlMs: TTL_MS } }, { log: sink });
    bob = await tenant('bob');
    alice = await tenant('alice');
    domainId = await createVm('bob-vm', bob.token);
    otherDomainId = await createVm('bob-vm2', bob.token);
  });
  after(async () => {
    await s?.stop();
  });

  test('a ticket is 32 random bytes, expires within 30 s, and its URLs name the domain, the kind and the ticket', async () => {
    const before = Date.now();
    const t = await ticket(bob.token);
    assert.match(t.ticket, /^[A-Za-z0-9_-]{43}$/, 'base64url of 32 bytes');
    const expires = Date.parse(t.expiresAt);
    assert.ok(expires > before && expires <= Date.now() + TTL_MS, `expiresAt ${t.expiresAt} is within the ticket lifetime`);
    for (const url of [t.pageUrl, t.websocketUrl]) {
      const q = new URL(url).searchParams;
      assert.deepEqual([q.get('domain'), q.get('kind'), q.get('ticket')], [domainId, 'GRAPHICS', t.ticket], url);
    }
    assert.ok(
      new URL(t.websocketUrl).protocol === 'ws:' && new URL(t.pageUrl).pathname === '/console/graphics',
      `${t.pageUrl} ${t.websocketUrl}`,
    );
    assert.notEqual((await ticket(bob.token)).ticket, t.ticket, 'every ticket is new');
  });

  test('a valid ticket passes every rule (and reaches libvirt)', async () => {
    const closed = await closeOf((await ticket(bob.token)).websocketUrl);
    assert.equal(closed.code, ACCEPTED, JSON.stringify(closed));
  });

  test('a ticket is used once: the second use is refused as used', async () => {
    const t = await ticket(bob.token);
    assert.equal((await closeOf(t.websocketUrl)).code, ACCEPTED);
    assert.deepEqual(await closeOf(t.websocketUrl), { code: 4409, reason: 'the ticket was already used' });
  });

  test('a ticket used after its lifetime is refused as expired', async () => {
    const t = await ticket(bob.token);
    await sleep(TTL_MS + 200);
    assert.deepEqual(await closeOf(t.websocketUrl), { code: 4410, reason: 'the ticket expired' });
  });

  test('a ticket shown for another domain or another kind is refused as such, and is used up by it', async () => {
    const t = await ticket(bob.token);
    const mismatch = { code: 4403, reason: 'the ticket is for another domain or console kind' };
    assert.deepEqual(await closeOf(withParam(t.websocketUrl, 'domain', otherDomainId)), mismatch);
    assert.deepEqual(await closeOf(t.websocketUrl), { code: 4409, reason: 'the ticket was already used' });
    const u = await ticket(bob.token);
    assert.deepEqual(await closeOf(withParam(u.websocketUrl, 'kind', 'SERIAL')), mismatch);
  });

  test('a ticket whose API token was revoked meanwhile is refused as such', async () => {
    const second = await newToken(bob.id);
    const t = await ticket(second.token);
    const r = await s.gql(`mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }`, { id: second.tokenId });
    assert.equal(r.data.revokeApiToken.__typename, 'RevokeApiTokenSuccess');
    assert.deepEqual(await closeOf(t.websocketUrl), { code: 4411, reason: 'the API token that asked for the ticket was revoked' });
  });

  test('a ticket for a domain handed to another user meanwhile is refused (the domain is no longer yours)', async () => {
    const vm = await createVm('bob-vm3', bob.token);
    const t = await ticket(bob.token, vm);
    const given = await s.gql(`mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on Error { message } } }`, {
      id: vm,
      u: alice.id,
    });
    assert.equal(given.data.assignDomain.__typename, 'AssignDomainSuccess', JSON.stringify(given));
    assert.deepEqual(await closeOf(t.websocketUrl), { code: 4404, reason: 'domain not found' });
  });

  test('without a valid ticket the WebSocket answers nothing but a refusal', async () => {
    const t = await ticket(bob.token);
    const u = new URL(t.websocketUrl);
    assert.deepEqual(await closeOf(withParam(t.websocketUrl, 'ticket', 'A'.repeat(43))), { code: 4401, reason: 'unknown ticket' });
    u.searchParams.delete('ticket');
    assert.deepEqual(await closeOf(u.toString()), { code: 4400, reason: 'a ticket, a domain and a console kind are required' });
    // Another path on the server takes no WebSocket at all.
    const other = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${new URL(t.websocketUrl).origin}/console/nothing`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('opened')));
      ws.on('error', () => {});
    });
    assert.equal(other, 404);
  });

  test("another tenant cannot get a ticket for bob's domain; a stopped domain has none to give", async () => {
    const r = await s.gql(TICKET, { d: domainId, k: 'GRAPHICS' }, alice.token);
    assert.equal(r.data.r.code, 'NOT_FOUND', JSON.stringify(r));
    const serial = await s.gql(TICKET, { d: domainId, k: 'SERIAL' }, bob.token);
    assert.equal(serial.data.r.code, 'UNSUPPORTED', 'the test driver has no serial sockets');
    const stopped = await s.gql(`mutation($id: ID!) { destroyDomain(id: $id) { __typename } }`, { id: otherDomainId }, bob.token);
    assert.equal(stopped.data.destroyDomain.__typename, 'DomainActionSuccess');
    const none = await s.gql(TICKET, { d: otherDomainId, k: 'GRAPHICS' }, bob.token);
    assert.equal(none.data.r.code, 'INVALID_STATE', JSON.stringify(none));
  });

  test('the page checks the ticket without using it; it loads nothing from elsewhere', async () => {
    const t = await ticket(bob.token);
    const res = await fetch(t.pageUrl);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<script type="module" src="\/console\/assets\/graphics\.js">/);
    assert.ok(!/https?:\/\//.test(html), 'no absolute URL in the page');
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    const script = await fetch(new URL('/console/assets/novnc/core/rfb.js', t.pageUrl));
    assert.equal(script.status, 200, 'noVNC is served locally');
    assert.equal((await fetch(new URL('/console/assets/novnc/package.json', t.pageUrl))).status, 404, 'only allow-listed files');
    assert.equal((await fetch(new URL('/console/assets/../../package.json', t.pageUrl))).status, 404);
    assert.equal((await closeOf(t.websocketUrl)).code, ACCEPTED, 'the page left the ticket unused');
    assert.equal((await fetch(t.pageUrl)).status, 403, 'a used ticket opens no page');
  });

  test('refused redemptions are audited under the token that asked, and no audit row holds a ticket', async () => {
    const t = await ticket(bob.token);
    await closeOf(t.websocketUrl);
    await closeOf(t.websocketUrl);
    const rows = await s.gql(
      `{ auditLog(first: 200, filter: { action: "consoleSessionStart" }) { edges { node { actorName result target message } } } }`,
    );
    const results = rows.data.auditLog.edges.map((e: any) => e.node);
    assert.ok(
      results.some((r: any) => r.actorName === 'bob' && r.result === 'TICKET_USED' && r.target === domainId),
      JSON.stringify(results),
    );
    const all = JSON.stringify((await s.gql(`{ auditLog(first: 500) { edges { node { action target result message } } } }`)).data);
    assert.ok(!all.includes(t.ticket), 'no ticket in the audit log');
  });

  test('no ticket appears in any log line (all levels, every request above included)', () => {
    assert.ok(
      logLines.length > 0 && issued.length > 10,
      `the server logged (${logLines.length} lines) and tickets were issued (${issued.length})`,
    );
    const leaked = issued.filter((t) => logLines.some((l) => l.includes(t)));
    assert.deepEqual(leaked, []);
  });

  test('at most 32 unused tickets per API token', async () => {
    const { token } = await newToken(bob.id);
    for (let i = 0; i < 32; i++) await ticket(token);
    const r = await s.gql(TICKET, { d: domainId, k: 'GRAPHICS' }, token);
    assert.equal(r.data.r.code, 'LIMIT_EXCEEDED', JSON.stringify(r));
  });
});

describe('the SSH-tunnel console switched off (VIRTPLANE_CONSOLE_SSH_TUNNEL=off)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ console: { sshTunnel: false, publicUrl: 'https://consoles.example.net/' } });
  });
  after(async () => {
    await s?.stop();
  });

  test('domainConsole answers UNSUPPORTED; tickets still come, with URLs on VIRTPLANE_PUBLIC_URL', async () => {
    const made = await s.gql(
      `mutation($i: CreateDomainInput!) { createDomain(input: $i) { ... on CreateDomainSuccess { domain { id } } ... on Error { code message } } }`,
      { i: { name: 'vm', vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', start: true } },
    );
    const id = made.data.createDomain.domain.id;
    const c = await s.gql(`query($id: ID!) { domainConsole(id: $id) { port password sshTunnelCommand } }`, { id });
    assert.equal(c.errors?.[0]?.extensions?.code, 'UNSUPPORTED', JSON.stringify(c));
    assert.deepEqual(
      c.data,
      { domainConsole: null },
      'no console is handed out (root fields are nullable: the refusal nulls only this one)',
    );
    const t = await s.gql(TICKET, { d: id, k: 'GRAPHICS' });
    assert.ok(t.data.r.pageUrl.startsWith('https://consoles.example.net/console/graphics?'), t.data.r.pageUrl);
    assert.ok(t.data.r.websocketUrl.startsWith('wss://consoles.example.net/console/ws?'), t.data.r.websocketUrl);
  });
});
