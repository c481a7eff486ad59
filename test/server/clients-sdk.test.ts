import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ApiError,
  DeleteDomain,
  DomainEvents,
  Events,
  outcome,
  SuspendDomain,
  ResumeDomain,
  unwrap,
  Viewer,
  VirtplaneClient,
  type FollowStatus,
} from '@virtplane/sdk';
import { ADMIN_TOKEN, domainGlobalId } from '../helpers/server.js';
import { startRestartableServer } from '../helpers/virtplane-cli.js';

const TEST_DOMAIN = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');
let vp: Awaited<ReturnType<typeof startRestartableServer>>;
let client: VirtplaneClient;

before(async () => {
  vp = await startRestartableServer();
  client = new VirtplaneClient({ url: vp.server().url, token: ADMIN_TOKEN });
});
after(async () => {
  await vp?.stop();
});

test('a result union becomes a success or a typed error; GraphQL errors and a refused token are ApiErrors', async () => {
  const { domain } = unwrap((await client.request(SuspendDomain, { id: TEST_DOMAIN })).suspendDomain);
  assert.equal(domain.state, 'PAUSED');
  const again = outcome((await client.request(SuspendDomain, { id: TEST_DOMAIN })).suspendDomain);
  assert.equal(again.ok, false);
  if (!again.ok) assert.equal(again.error.code, 'INVALID_STATE');
  unwrap((await client.request(ResumeDomain, { id: TEST_DOMAIN })).resumeDomain);

  const gone = domainGlobalId('00000000-0000-0000-0000-000000000000');
  await assert.rejects(
    async () => unwrap((await client.request(DeleteDomain, { id: gone })).deleteDomain),
    (e) => e instanceof ApiError && e.code === 'NOT_FOUND' && e.type === 'NotFoundError',
  );
  const stranger = new VirtplaneClient({ url: vp.server().url, token: 'not-a-valid-token-000000' });
  await assert.rejects(stranger.request(Viewer), (e) => e instanceof ApiError && e.code === 'UNAUTHENTICATED');
  assert.ok(!JSON.stringify(client).includes(ADMIN_TOKEN), 'a client never serialises its token');
});

test('follow() reconnects across a server restart and resumes after the last event it yielded: none lost or repeated', async () => {
  const statuses: FollowStatus[] = [];
  let listening!: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  const seen: string[] = [];
  const stop = new AbortController();
  const done = (async () => {
    for await (const e of client.follow(DomainEvents, { domainId: TEST_DOMAIN }, (d) => d.domainEvents, {
      signal: stop.signal,
      onStatus: (s) => {
        statuses.push(s);
        if (s.kind === 'listening') listening();
      },
    })) {
      seen.push(`${e.type}/${e.detail}`);
      if (seen.length === 4) stop.abort();
    }
  })();
  await ready;
  unwrap((await client.request(SuspendDomain, { id: TEST_DOMAIN })).suspendDomain);
  while (seen.length < 1) await new Promise((r) => setTimeout(r, 50));
  await vp.restart();
  // At once after the restart, before follow() is back (its backoff): these are replayed from its cursor.
  unwrap((await client.request(ResumeDomain, { id: TEST_DOMAIN })).resumeDomain);
  unwrap((await client.request(SuspendDomain, { id: TEST_DOMAIN })).suspendDomain);
  unwrap((await client.request(ResumeDomain, { id: TEST_DOMAIN })).resumeDomain);
  await done;
  assert.deepEqual(seen, ['SUSPENDED/PAUSED', 'RESUMED/UNPAUSED', 'SUSPENDED/PAUSED', 'RESUMED/UNPAUSED']);
  assert.ok(
    statuses.some((s) => s.kind === 'disconnected'),
    JSON.stringify(statuses),
  );
  assert.equal(statuses.filter((s) => s.kind === 'listening').length, 2, JSON.stringify(statuses));
});

test('follow() from a cursor the server no longer knows ends with CURSOR_EXPIRED', async () => {
  const { events } = await client.request(Events, { first: 1 });
  const cursor = events!.edges[0]!.node.cursor;
  const bytes = Buffer.from(cursor, 'base64url');
  bytes[bytes.length - 1]! ^= 1;
  const it = client.follow(DomainEvents, {}, (d) => d.domainEvents, { after: bytes.toString('base64url') });
  await assert.rejects(it.next(), (e) => e instanceof ApiError && e.code === 'CURSOR_EXPIRED');
});
