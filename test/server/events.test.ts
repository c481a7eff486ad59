import { DEFAULT_LIMITS } from '../../src/config.js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'graphql-ws';
import { openDatabase } from '../../src/db/index.js';
import { apiTokens, users } from '../../src/db/schema.js';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { hashToken } from '../../src/services/access/auth.js';
import WebSocket from 'ws';
import { ADMIN_TOKEN, collect, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';
import { within } from '../helpers/within.js';

const TEST_DOMAIN = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');
const SUB = `subscription($after: String, $types: [DomainEventType!]) {
  domainEvents(after: $after, types: $types) { cursor type detail state synthetic domain { name state } } }`;

type Ev = { cursor: string; type: string; detail: string; state: string; synthetic: boolean; domain: { name: string; state: string } };

async function act(s: TestServer, action: string): Promise<string> {
  const r = await s.gql(`mutation($id: ID!) { a: ${action}(id: $id) { __typename ... on Error { code message } } }`, { id: TEST_DOMAIN });
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  return r.data.a.__typename === 'DomainActionSuccess' ? 'ok' : r.data.a.code;
}

/** Resolves once every message sent on this socket before it has been handled (graphql-ws handles in order). */
function roundTrip(client: Client): Promise<void> {
  const answered = new Promise<void>((resolve, reject) =>
    client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
  );
  return within(answered, 'the server answers a query sent after the subscriptions on the same socket');
}

async function subscribe(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const sub = collect<{ domainEvents: Ev }>(client, query, variables);
  await roundTrip(client);
  return { ...sub, events: () => sub.items.map((i) => i.domainEvents) };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('events: durable log, replay then live, history', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.stop();
  });

  test('a subscription resumed from a cursor replays what it missed, then goes live, with events arriving during the replay: no gap, no duplicate', async () => {
    const live = await subscribe(s.ws(), SUB);
    // More than two replay pages (256 each) of history.
    for (let i = 0; i < 140; i++) {
      await act(s, 'suspendDomain');
      await act(s, 'resumeDomain');
    }
    await live.next(280, 30_000);
    const from = live.events()[0]!.cursor;

    // Mutations keep running while the resumed subscription replays.
    const more = (async () => {
      for (let i = 0; i < 20; i++) {
        await act(s, 'suspendDomain');
        await act(s, 'resumeDomain');
      }
    })();
    const resumed = await subscribe(s.ws(), SUB, { after: from });
    await more;
    await live.next(320, 30_000);
    await resumed.next(319, 30_000);
    // One more change afterwards: a duplicate anywhere before would now show as a shifted sequence.
    await act(s, 'suspendDomain');
    await live.next(321);
    await resumed.next(320);

    const expected = live
      .events()
      .slice(1)
      .map((e) => e.cursor);
    assert.deepEqual(
      resumed.events().map((e) => e.cursor),
      expected,
    );
    assert.equal(new Set(expected).size, expected.length);
    assert.deepEqual(
      resumed
        .events()
        .slice(0, 2)
        .map((e) => [e.type, e.state, e.synthetic]),
      [
        ['RESUMED', 'RUNNING', false],
        ['SUSPENDED', 'PAUSED', false],
      ],
    );
    await act(s, 'resumeDomain');
    live.unsubscribe();
    resumed.unsubscribe();
  });

  test('events(first, after, filter) pages through the history, oldest first, and filters by type and domain', async () => {
    const q = `query($after: String, $f: DomainEventFilter) {
      events(first: 3, after: $after, filter: $f) { edges { cursor node { type state domain { name } } } pageInfo { hasNextPage endCursor } } }`;
    const p1 = await s.gql(q, { f: { types: ['SUSPENDED'], domainId: TEST_DOMAIN } });
    assert.equal(p1.errors, undefined, JSON.stringify(p1.errors));
    assert.equal(p1.data.events.edges.length, 3);
    assert.equal(p1.data.events.pageInfo.hasNextPage, true);
    const p2 = await s.gql(q, { after: p1.data.events.pageInfo.endCursor, f: { types: ['SUSPENDED'] } });
    assert.equal(p2.errors, undefined, JSON.stringify(p2.errors));
    const all = [...p1.data.events.edges, ...p2.data.events.edges];
    assert.ok(
      all.every((e: any) => e.node.type === 'SUSPENDED' && e.node.state === 'PAUSED' && e.node.domain.name === 'test'),
      `only SUSPENDED events of 'test': ${JSON.stringify(all)}`,
    );
    const cursors = all.map((e: any) => e.cursor);
    assert.equal(new Set(cursors).size, 6);

    // The same events, unfiltered, with everything in between.
    const unfiltered = await s.gql(`query($a: String) { events(first: 6, after: $a) { edges { cursor node { type } } } }`, {
      a: null,
    });
    assert.deepEqual(
      unfiltered.data.events.edges.map((e: any) => e.node.type),
      ['SUSPENDED', 'RESUMED', 'SUSPENDED', 'RESUMED', 'SUSPENDED', 'RESUMED'],
    );
    assert.equal(unfiltered.data.events.edges[0].cursor, cursors[0]);

    const other = await s.gql(q, { f: { domainId: domainGlobalId(randomUUID()) } });
    assert.deepEqual([other.errors, other.data?.events.edges], [undefined, []]);
    const bad = await s.gql(`{ events(after: "nonsense") { edges { cursor } } }`);
    assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  });

  test('a tenant sees none of the events of domains it does not own, and may not watch networks', async () => {
    const db = openDatabase(join(s.dataDir, 'virtplane.sqlite'));
    const token = `tenant-token-${randomUUID()}`;
    const userId = randomUUID();
    db.insert(users)
      .values({ id: userId, name: `t-${userId}`, role: 'TENANT' })
      .run();
    db.insert(apiTokens)
      .values({ id: randomUUID(), userId, label: 't', prefix: 'tenant', hash: hashToken(token) })
      .run();
    db.$client.close();

    const r = await s.gql(`{ events(first: 100) { edges { cursor } } }`, {}, token);
    assert.equal(r.errors, undefined);
    assert.deepEqual(r.data.events.edges, []);
    const admin = await s.gql(`{ events(first: 1) { edges { cursor } } }`);
    assert.equal(admin.data.events.edges.length, 1);

    const sub = collect(s.ws(token), `subscription { networkEvents { cursor } }`);
    await until('the subscription ends', async () => sub.completed || sub.errors.length > 0);
    assert.equal((sub.errors[0] as any)?.extensions?.code, 'FORBIDDEN');

    // Watching one domain live: NOT_FOUND for a foreign one, exactly as for one that does not exist.
    const one = `subscription($d: ID) { domainEvents(domainId: $d) { cursor } }`;
    for (const [who, id] of [
      [token, TEST_DOMAIN],
      [undefined, domainGlobalId(randomUUID())],
    ] as const) {
      const watch = collect(s.ws(who), one, { d: id });
      await until('the subscription ends', async () => watch.completed || watch.errors.length > 0);
      assert.equal((watch.errors[0] as any)?.extensions?.code, 'NOT_FOUND', JSON.stringify(watch.errors));
    }
  });

  test('network lifecycle events reach networkEvents and are replayable', async () => {
    const client = s.ws();
    const q = `subscription($after: String) { networkEvents(after: $after) { cursor type synthetic network { name active } } }`;
    const sub = collect<any>(client, q);
    // A malformed networkId matches nothing, live as in a replay (as domainId and ownerId do).
    const none = collect<any>(client, `subscription { networkEvents(networkId: "not-an-id") { cursor } }`);
    await roundTrip(client);
    const bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    try {
      const [path] = (await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'NetworkLookupByName', 's', ['default'])) as [string];
      await bus.call(path, 'org.libvirt.Network', 'Destroy');
      await bus.call(path, 'org.libvirt.Network', 'Create');
    } finally {
      bus.disconnect();
    }
    const evs = (await sub.next(2)).map((i) => i.networkEvents);
    assert.deepEqual(
      evs.map((e) => [e.type, e.network.name, e.network.active, e.synthetic]),
      [
        ['STOPPED', 'default', false, false],
        ['STARTED', 'default', true, false],
      ],
    );
    const replay = collect<any>(s.ws(), q, { after: evs[0].cursor });
    assert.deepEqual(
      (await replay.next(1)).map((i) => i.networkEvents.cursor),
      [evs[1].cursor],
    );
    await roundTrip(client);
    // Accepted and open, delivering nothing (a server refusing the filter outright would also deliver nothing).
    assert.deepEqual([none.items, none.errors, none.completed], [[], [], false], 'the malformed networkId subscription is open and silent');
    none.unsubscribe();
    sub.unsubscribe();
    replay.unsubscribe();
  });
});

describe('events: retention', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ events: { maxCount: 10, maxAgeMs: 0, bufferLimit: 1000 } });
  });
  after(async () => {
    await s.stop();
  });

  test('keeps the newest events within the count limit; a pruned cursor fails with CURSOR_EXPIRED, a kept one resumes', async () => {
    const live = await subscribe(s.ws(), SUB);
    for (let i = 0; i < 15; i++) {
      await act(s, 'suspendDomain');
      await act(s, 'resumeDomain');
    }
    const all = (await live.next(30)).map((i) => i.domainEvents.cursor);
    const kept = (await s.gql(`{ events(first: 100) { edges { cursor } } }`)).data.events.edges.map((e: any) => e.cursor);
    assert.ok(kept.length >= 10 && kept.length < 30, `kept ${kept.length}`);
    assert.deepEqual(kept, all.slice(all.length - kept.length));

    const expired = collect(s.ws(), SUB, { after: all[0] });
    await until('the expired subscription ends', async () => expired.completed || expired.errors.length > 0);
    assert.equal((expired.errors[0] as any)?.extensions?.code, 'CURSOR_EXPIRED');
    const hist = await s.gql(`query($a: String) { events(after: $a) { edges { cursor } } }`, { a: all[0] });
    assert.equal(hist.errors?.[0]?.extensions?.code, 'CURSOR_EXPIRED');

    const resumed = await subscribe(s.ws(), SUB, { after: all.at(-2) });
    assert.deepEqual(
      (await resumed.next(1)).map((i) => i.domainEvents.cursor),
      [all.at(-1)],
    );
    live.unsubscribe();
    resumed.unsubscribe();
  });
});

describe('events: libvirt-dbus dies while a subscriber listens', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    s.app.embedded?.pauseRestarts(false);
    await s.stop();
  });

  test('stale while away (503, cached answers, LIBVIRT_UNAVAILABLE, subscription open), then exactly one synthetic event for the missed change', async () => {
    const embedded = s.app.embedded!;
    const sub = await subscribe(s.ws(), SUB);
    assert.equal(await act(s, 'destroyDomain'), 'ok');
    assert.deepEqual(
      (await sub.next(1)).map((i) => [i.domainEvents.type, i.domainEvents.synthetic]),
      [['STOPPED', false]],
    );

    embedded.pauseRestarts(true);
    process.kill(embedded.libvirtDbusPid()!, 'SIGKILL');
    await until('host is stale', async () => (await s.gql(`{ host { stale } }`)).data.host.stale === true);
    assert.equal((await fetch(s.url.replace('/graphql', '/healthz'))).status, 503);
    const cached = await s.gql(`{ domains { edges { node { name state } } } }`);
    assert.deepEqual(cached.data.domains.edges, [{ node: { name: 'test', state: 'SHUTOFF' } }]);
    assert.equal(await act(s, 'startDomain'), 'LIBVIRT_UNAVAILABLE');
    assert.equal(sub.completed, false);

    // The test driver lives inside libvirt-dbus: the restarted one has `test` running again.
    embedded.pauseRestarts(false);
    const [, back] = (await sub.next(2)).map((i) => i.domainEvents);
    assert.deepEqual([back!.type, back!.state, back!.synthetic, back!.domain.state], ['STARTED', 'RUNNING', true, 'RUNNING']);
    await until('host is fresh', async () => (await s.gql(`{ host { stale } }`)).data.host.stale === false);
    assert.equal((await fetch(s.url.replace('/graphql', '/healthz'))).status, 200);
    const fresh = await s.gql(`{ domains { edges { node { name state } } } }`);
    assert.deepEqual(fresh.data.domains.edges, [{ node: { name: 'test', state: 'RUNNING' } }]);

    // The next real change is the very next event: nothing else was announced in between.
    assert.equal(await act(s, 'suspendDomain'), 'ok');
    assert.deepEqual(
      (await sub.next(3)).map((i) => [i.domainEvents.type, i.domainEvents.synthetic]),
      [
        ['STOPPED', false],
        ['STARTED', true],
        ['SUSPENDED', false],
      ],
    );
    await act(s, 'resumeDomain');
    await sub.next(4);
    assert.equal(sub.items.length, 4);
  });
});

describe('events: the server restarts mid-stream', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-restart-'));
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a monitor resumes from its last cursor on the restarted server with nothing lost or repeated, including what changed while it was down', async () => {
    const first = await startTestServer({ dataDir });
    servers.push(first);
    const sub = await subscribe(first.ws(), SUB);
    await act(first, 'suspendDomain');
    await act(first, 'resumeDomain');
    await act(first, 'destroyDomain');
    const seen = (await sub.next(3)).map((i) => i.domainEvents);
    await first.stop();

    // While it is down, libvirt changes: the restarted server's test driver has `test` running again.
    const second = await startTestServer({ dataDir });
    servers.push(second);
    const resumed = await subscribe(second.ws(), SUB, { after: seen[1]!.cursor });
    await act(second, 'suspendDomain');
    const got = (await resumed.next(3)).map((i) => i.domainEvents);
    assert.deepEqual(
      got.map((e) => [e.type, e.state, e.synthetic]),
      [
        ['STOPPED', 'SHUTOFF', false],
        ['STARTED', 'RUNNING', true],
        ['SUSPENDED', 'PAUSED', false],
      ],
    );
    assert.equal(got[0]!.cursor, seen[2]!.cursor);
    const history = await second.gql(`{ events(first: 100) { edges { cursor node { type } } } }`);
    assert.deepEqual(
      history.data.events.edges.map((e: any) => e.node.type),
      ['SUSPENDED', 'RESUMED', 'STOPPED', 'STARTED', 'SUSPENDED'],
    );
    resumed.unsubscribe();
  });
});

describe('events: a slow consumer', () => {
  let s: TestServer;
  before(async () => {
    // 20 events ≈ 80 KiB of unsent frames per socket.
    // Its large frames use many aliases: raise that query limit, it is not what this test is about.
    s = await startTestServer({ events: { maxCount: 0, maxAgeMs: 0, bufferLimit: 20 }, limits: { ...DEFAULT_LIMITS, maxAliases: 100 } });
  });
  after(async () => {
    await s.stop();
  });

  test('is closed with 4008 and a reason once its buffer is full, harms no other subscriber, and resumes from its last cursor', async () => {
    const healthy = await subscribe(s.ws(), SUB);

    // A raw graphql-ws client that stops reading its socket: ten subscriptions of large frames.
    const ws = new WebSocket(s.wsUrl, 'graphql-transport-ws');
    await within(new Promise((resolve) => ws.once('open', resolve)), 'the raw WebSocket opens');
    const frames: any[] = [];
    let acked!: () => void;
    const ack = new Promise<void>((r) => (acked = r));
    ws.on('message', (data) => {
      const msg = JSON.parse((data as Buffer).toString());
      if (msg.type === 'connection_ack') acked();
      else frames.push(msg);
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
    await within(ack, 'the raw WebSocket is acknowledged');
    const big = `cursor domain { ${Array.from({ length: 10 }, (_, i) => `a${i}: disks { target device source } b${i}: interfaces { mac type model } c${i}: name`).join(' ')} }`;
    for (let i = 0; i < 10; i++)
      ws.send(JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: `subscription { domainEvents { ${big} } }` } }));
    ws.send(JSON.stringify({ id: 'rt', type: 'subscribe', payload: { query: '{ __typename }' } }));
    await until('the subscriptions are registered', async () => frames.some((f) => f.id === 'rt' && f.type === 'complete'));
    (ws as any)._socket.pause();

    const N = 300;
    for (let i = 0; i < N / 2; i++) {
      await act(s, 'suspendDomain');
      await act(s, 'resumeDomain');
    }
    const all = (await healthy.next(N, 30_000)).map((i) => i.domainEvents.cursor);
    assert.equal(new Set(all).size, N);

    (ws as any)._socket.resume();
    const { code, reason } = await within(closed, `the slow consumer is closed (it got ${frames.length} frames)`);
    assert.equal(code, 4008);
    assert.match(reason, /slow consumer.*resume from your last cursor/);
    // What it did get is a prefix of the stream, in order, once; it resumes from its last cursor.
    const got = frames.filter((f) => f.id === 's0' && f.type === 'next').map((f) => f.payload.data.domainEvents.cursor);
    assert.ok(got.length < N, `the slow client received all ${got.length} events`);
    assert.deepEqual(got, all.slice(0, got.length));
    const resumed = await subscribe(s.ws(), SUB, { after: got.at(-1) ?? all[0] });
    const rest = (await resumed.next(N - Math.max(got.length, 1), 30_000)).map((i) => i.domainEvents.cursor);
    assert.deepEqual(rest, all.slice(Math.max(got.length, 1)));
    healthy.unsubscribe();
    resumed.unsubscribe();
  });
});
