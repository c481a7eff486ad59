import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from '../../src/db/index.js';
import { encodeGlobalID } from '../../src/graphql/ids.js';
import { addTenant } from '../helpers/tenants.js';
import { domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';

const TEST_DOMAIN = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');
const PAGE = 'query($after: String) { events(first: 1000, after: $after) { edges { cursor node { type } } pageInfo { endCursor } } }';

/** `n` lifecycle events of the test driver's domain (suspend, resume, ...). */
async function churn(s: TestServer, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await s.gql(`mutation($id: ID!) { a: ${i % 2 ? 'resumeDomain' : 'suspendDomain'}(id: $id) { __typename } }`, {
      id: TEST_DOMAIN,
    });
    assert.equal(r.data?.a?.__typename, 'DomainActionSuccess', JSON.stringify(r));
  }
}

async function eventCount(s: TestServer): Promise<number> {
  return (await s.gql('{ events { totalCount } }')).data.events.totalCount;
}

/** Waits until the log holds at least `n` events (their signals arrive after the mutations answered). */
async function logged(s: TestServer, n: number): Promise<void> {
  for (let i = 0; i < 400 && (await eventCount(s)) < n; i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok((await eventCount(s)) >= n, `the log holds ${n} events`);
}

function code(r: { errors?: { extensions?: Record<string, unknown> }[] }): unknown {
  return r.errors?.[0]?.extensions?.code;
}

const legacyCursor = (seq: number) => Buffer.from(`event:${seq}`).toString('base64url');

describe('event cursors belong to their log and say nothing of it', () => {
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    [a, b] = await Promise.all([startTestServer(), startTestServer()]);
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  test("a cursor from another server's database is CURSOR_EXPIRED, in events and in domainEvents, not a replay of unrelated events", async () => {
    await churn(b, 2);
    await logged(b, 2);
    await churn(a, 6); // a's log is longer: a row id of b's log exists in a's too
    await logged(a, 6);
    const foreign = (await b.gql(PAGE)).data.events.edges[0].cursor as string;
    const r = await a.gql(PAGE, { after: foreign });
    assert.equal(code(r), 'CURSOR_EXPIRED', JSON.stringify(r));
    const errors = await new Promise<readonly { extensions?: Record<string, unknown> }[]>((resolve, reject) => {
      a.ws().subscribe(
        { query: 'subscription($a: String) { domainEvents(after: $a) { cursor } }', variables: { a: foreign } },
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
      ['CURSOR_EXPIRED'],
      JSON.stringify(errors),
    );
  });

  test('a tampered cursor is CURSOR_EXPIRED; text that is no cursor is BAD_USER_INPUT', async () => {
    const cursor = (await a.gql(PAGE)).data.events.edges[0].cursor as string;
    const bytes = Buffer.from(cursor, 'base64url');
    bytes[bytes.length - 1]! ^= 1;
    assert.equal(code(await a.gql(PAGE, { after: bytes.toString('base64url') })), 'CURSOR_EXPIRED', 'a flipped bit');
    assert.equal(code(await a.gql(PAGE, { after: 'not a cursor' })), 'BAD_USER_INPUT', 'garbage');
  });

  test("a tenant's cursors are no row ids: they do not hold the ids in clear, so their gaps do not count other tenants' events", async () => {
    const tenant = addTenant(a.dataDir, 'cursor-tenant');
    const assigned = await a.gql('mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename } }', {
      id: TEST_DOMAIN,
      u: encodeGlobalID('User', tenant.id),
    });
    assert.equal(assigned.data?.assignDomain?.__typename, 'AssignDomainSuccess', JSON.stringify(assigned));
    const before = await eventCount(a);
    await churn(a, 120); // row ids past 100: three digits, which random bytes do not spell by chance
    await logged(a, before + 120);
    const page = await a.gql(PAGE, {}, tenant.token);
    const cursors = page.data.events.edges.map((e: { cursor: string }) => e.cursor) as string[];
    assert.ok(cursors.length >= 120, `the tenant sees its events (${cursors.length})`);
    const db = openDatabase(join(a.dataDir, 'virtplane.sqlite'));
    // The tenant's page lists its events oldest first: the rows appended with it as the owner, in id order.
    const own = (db.$client.prepare('SELECT id FROM events WHERE owner_id = ? ORDER BY id').all(tenant.id) as { id: number }[]).map(
      (r) => r.id,
    );
    const ids = (db.$client.prepare('SELECT id FROM events ORDER BY id').all() as { id: number }[])
      .map((r) => r.id)
      .filter((id) => id >= 100);
    db.$client.close();
    assert.ok(ids.length >= 20, 'row ids of three digits exist');
    assert.equal(own.length, cursors.length, 'a cursor for each of the tenant’s rows');
    for (const [i, cursor] of cursors.entries()) {
      const raw = Buffer.from(cursor, 'base64url');
      const text = raw.toString('latin1');
      assert.ok(!/event:/.test(text), `${cursor} is not of the plain form`);
      // Its own row id in decimal: any three digits of random bytes would match some id by chance (run 34 saw
      // "127" in one cursor), so only the id the cursor stands for is looked for as text — when it has three
      // digits (the hand-over's own event, before the churn, has two: random bytes spell those too often).
      if (own[i]! >= 100) assert.ok(!text.includes(String(own[i])), `${cursor} does not spell its own row id ${own[i]}`);
      for (const id of ids) {
        const be = Buffer.alloc(4);
        be.writeUInt32BE(id);
        const le = Buffer.alloc(4);
        le.writeUInt32LE(id);
        assert.ok(!raw.includes(be) && !raw.includes(le), `${cursor} does not hold row id ${id}`);
      }
    }
    assert.equal(new Set(cursors).size, cursors.length, 'every event has its own cursor');
  });
});

describe('event cursors across upgrades and restores', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'virtplane-cursors-'));
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a cursor of the older plain form still resumes, for the events that existed before the upgrade', async () => {
    let s = await startTestServer({ dataDir });
    try {
      await churn(s, 4);
      await logged(s, 4);
    } finally {
      await s.stop();
    }
    // As a database from before sealed cursors: no identity yet.
    const db = openDatabase(join(dataDir, 'virtplane.sqlite'));
    db.$client.prepare('DELETE FROM event_log_identity').run();
    const oldest = (db.$client.prepare(`SELECT min(id) AS id FROM events WHERE kind = 'DOMAIN'`).get() as { id: number }).id;
    db.$client.close();
    s = await startTestServer({ dataDir });
    try {
      const all = await s.gql(PAGE);
      const r = await s.gql(PAGE, { after: legacyCursor(oldest) });
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.equal(r.data.events.edges.length, all.data.events.edges.length - 1, 'everything after the cursor is replayed');
      // A plain cursor naming an event newer than the upgrade was never handed out: it proves nothing.
      await churn(s, 2);
      const newest = await eventCount(s);
      await logged(s, newest);
      const last = (await s.gql('{ events(first: 1000) { edges { cursor } } }')).data.events.edges.length;
      assert.equal(
        code(await s.gql(PAGE, { after: legacyCursor(oldest + last - 1) })),
        'CURSOR_EXPIRED',
        'a plain cursor past the upgrade',
      );
    } finally {
      await s.stop();
    }
  });

  test('a cursor handed out after the backup a database was restored from is CURSOR_EXPIRED, though its row id exists again', async () => {
    const backup = join(dataDir, 'backup.sqlite');
    let s = await startTestServer({ dataDir });
    let cursor: string;
    try {
      await s.gql('{ __typename }');
    } finally {
      await s.stop();
    }
    copyFileSync(join(dataDir, 'virtplane.sqlite'), backup);
    s = await startTestServer({ dataDir });
    try {
      const before = await eventCount(s);
      await churn(s, 2);
      await logged(s, before + 2);
      cursor = (await s.gql(PAGE)).data.events.pageInfo.endCursor;
    } finally {
      await s.stop();
    }
    for (const f of ['virtplane.sqlite-wal', 'virtplane.sqlite-shm']) rmSync(join(dataDir, f), { force: true });
    copyFileSync(backup, join(dataDir, 'virtplane.sqlite'));
    s = await startTestServer({ dataDir });
    try {
      const before = await eventCount(s);
      await churn(s, 4); // the restored log reuses the row ids the lost events had
      await logged(s, before + 4);
      assert.equal(code(await s.gql(PAGE, { after: cursor })), 'CURSOR_EXPIRED', JSON.stringify(await s.gql(PAGE, { after: cursor })));
    } finally {
      await s.stop();
    }
  });
});
