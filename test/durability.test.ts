import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSchema, createYoga } from 'graphql-yoga';
import { WalFlusher } from '../src/db/durability.js';
import { openDatabase } from '../src/db/index.js';
import type { DomainRecord } from '../src/libvirt/types.js';
import { EventLog } from '../src/services/event-log.js';
import { useDurableMutations } from '../src/graphql/durable-mutations.js';


const domain: DomainRecord = {
  uuid: '00000000-0000-0000-0000-000000000001', name: 'd', path: '/p', state: 'RUNNING', stateReason: 'BOOTED', active: true,
  persistent: true, autostart: false, vcpus: 1, memoryMiB: 64, interfaces: [], disks: [], graphics: [], metadata: { ownerId: null },
};

/** A datasync that completes only when the test says so, recording each call. */
function heldSync() {
  const pending: (() => void)[] = [];
  return {
    calls: () => pending.length,
    finish: (i: number) => pending[i]!(),
    datasync: (_fd: number, done: (err: Error | null) => void) => void pending.push(() => done(null)),
  };
}

test('callers of flush() that arrive while the WAL syncs share the next sync, and syncs finish in the order asked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vp-durable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(join(dir, 'db.sqlite'));
  t.after(() => db.$close());
  const sync = heldSync();
  const flusher = new WalFlusher(join(dir, 'db.sqlite-wal'), sync.datasync);
  const done: string[] = [];
  const a = flusher.flush().then(() => done.push('a'));
  const b = flusher.flush().then(() => done.push('b'));
  const c = flusher.flush().then(() => done.push('c'));
  await new Promise((r) => setImmediate(r));
  // b and c may have committed after the running sync began: they wait for a second one, not yet started.
  assert.equal(sync.calls(), 1);
  sync.finish(0);
  await a;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(done, ['a']);
  assert.equal(sync.calls(), 2);
  sync.finish(1);
  await Promise.all([b, c]);
  assert.deepEqual(done, ['a', 'b', 'c']);
  flusher.close();
});

test('a closed flusher refuses to flush, and lets the sync already running finish', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vp-durable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(join(dir, 'db.sqlite'));
  t.after(() => db.$close());
  const sync = heldSync();
  const flusher = new WalFlusher(join(dir, 'db.sqlite-wal'), sync.datasync);
  const running = flusher.flush();
  flusher.close();
  await assert.rejects(flusher.flush(), /closed/);
  sync.finish(0);
  await running;
  assert.equal(sync.calls(), 1);
});

test('the database commits without fsync and $flush() syncs its WAL for real', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vp-durable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(join(dir, 'db.sqlite'));
  t.after(() => db.$close());
  assert.equal(db.$client.pragma('synchronous', { simple: true }), 1); // NORMAL
  new EventLog(db).appendDomain({ type: 'STARTED', detail: 'BOOTED', at: new Date(), domain, synthetic: false }, null);
  await db.$flush();
  await Promise.all([db.$flush(), db.$flush(), db.$flush()]);
});

test('an event append syncs its own commit and leaves the connection committing lazily', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vp-durable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(join(dir, 'db.sqlite'));
  t.after(() => db.$close());
  // Records, in order, the statements the event log runs.
  const ran: string[] = [];
  const prepare = db.$client.prepare.bind(db.$client);
  db.$client.prepare = ((source: string) => {
    const stmt = prepare(source);
    for (const m of ['run', 'get'] as const) {
      const call = stmt[m].bind(stmt) as (...a: unknown[]) => unknown;
      (stmt as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => (ran.push(source.split(' (')[0]!), call(...a));
    }
    return stmt;
  }) as typeof db.$client.prepare;
  new EventLog(db).appendDomain({ type: 'STARTED', detail: 'BOOTED', at: new Date(), domain, synthetic: false }, null);
  assert.deepEqual(ran, ['PRAGMA synchronous = FULL', 'INSERT INTO events', 'INSERT INTO known_objects', 'PRAGMA synchronous = NORMAL']);
  assert.equal(db.$client.pragma('synchronous', { simple: true }), 1);
});

test('a mutation is answered only after what it committed is on disk; queries do not wait', async () => {
  let release!: () => void;
  let flushes = 0;
  const flush = () => {
    flushes++;
    return new Promise<void>((r) => (release = r));
  };
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { a: Int } type Mutation { b: Int }', resolvers: { Query: { a: () => 1 }, Mutation: { b: () => 2 } } }),
    plugins: [useDurableMutations(flush)],
    logging: false,
  });
  const ask = (query: string) =>
    Promise.resolve(yoga.fetch('http://x/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })).then((r) => r.json());
  assert.deepEqual(await ask('{ a }'), { data: { a: 1 } });
  assert.equal(flushes, 0);
  let answered = false;
  const reply = ask('mutation { b }').then((r) => ((answered = true), r));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(flushes, 1);
  assert.equal(answered, false);
  release();
  assert.deepEqual(await reply, { data: { b: 2 } });
});
