import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { TEST_DRIVER } from '../helpers/libvirt-stack.js';
import { collect, startTestServer, type TestServer } from '../helpers/server.js';
import { eventually } from '../helpers/tenants.js';

/**
 * A full disk, for real: the data directory is on a small tmpfs of its own, filled up with a file, then freed.
 */
const mountPoint = mkdtempSync(join(tmpdir(), 'virtplane-full-'));
const dataDir = join(mountPoint, 'data');
const filler = join(mountPoint, 'filler');
let mounted = false;
let s: TestServer | undefined;
let bus: LibvirtBus | undefined;

before(async () => {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountPoint]);
  mounted = true;
  mkdirSync(dataDir);
  s = await startTestServer({ dataDir });
  bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
});
after(async () => {
  bus?.disconnect();
  await s?.stop();
  rmSync(filler, { force: true });
  if (mounted) execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Writes into `filler` until the file system has no byte left. */
function fillDisk(): void {
  const fd = openSync(filler, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

const ACTION = (m: string) =>
  `mutation($id: ID!) { r: ${m}(id: $id) { __typename ... on DomainActionSuccess { domain { state } } ... on Error { code message } } }`;

test('disk full: mutations refused with STORAGE_UNAVAILABLE before libvirt is touched, /healthz 503 with the reason; events of changes made meanwhile are logged and delivered once space returns', async () => {
  const server = s!;
  const healthz = async () => {
    const res = await fetch(server.url.replace('/graphql', '/healthz'));
    return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
  };
  const testDomain = (await server.gql(`{ domains(first: 10) { edges { node { id name state } } } }`)).data.domains.edges.find(
    (e: any) => e.node.name === 'test',
  ).node;
  const stateOfTest = async () => (await server.gql(`{ node(id: "${testDomain.id}") { ... on Domain { state } } }`)).data?.node?.state;
  // A change while the disk has room, and a subscription from its cursor: what follows it arrives whenever the
  // subscription becomes live (a live-only one could miss the first event on a busy host).
  assert.equal((await server.gql(ACTION('destroyDomain'), { id: testDomain.id })).data.r.__typename, 'DomainActionSuccess');
  const first = await eventually(async () => {
    const r = await server.gql(`{ events(first: 100) { edges { cursor node { type } } } }`);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const last = (r.data.events.edges as { cursor: string; node: { type: string } }[]).at(-1);
    return last?.node.type === 'STOPPED' ? last.cursor : null;
  }, 'the STOPPED event in the log');
  const sub = collect(server.ws(), `subscription($after: String) { domainEvents(after: $after) { type domain { name } } }`, {
    after: first,
  });
  assert.equal((await server.gql(ACTION('startDomain'), { id: testDomain.id })).data.r.__typename, 'DomainActionSuccess');
  await sub.next(1);

  fillDisk();
  const full = await healthz();
  assert.equal(full.status, 503, 'unhealthy while the disk is full');
  assert.equal(full.body.status, 'storage failing');
  assert.match(full.body.reason ?? '', /free/, 'the reason says why');

  const refused = await server.gql(ACTION('destroyDomain'), { id: testDomain.id });
  assert.equal(refused.errors, undefined, JSON.stringify(refused.errors));
  assert.equal(refused.data.r.__typename, 'StorageUnavailableError', JSON.stringify(refused.data));
  assert.equal(refused.data.r.code, 'STORAGE_UNAVAILABLE');
  const [path] = (await bus!.call(TEST_DRIVER, 'org.libvirt.Connect', 'DomainLookupByName', 's', ['test'])) as [string];
  const [state] = (await bus!.call(path, 'org.libvirt.Domain', 'GetState', 'u', [0])) as [[number, number]];
  assert.equal(state[0], 1, 'nothing was done in libvirt: the domain still runs');

  // Changes made behind virtplane's back while the log cannot take their events.
  await bus!.call(path, 'org.libvirt.Domain', 'Destroy', 'u', [0]);
  await eventually(async () => ((await stateOfTest()) === 'SHUTOFF' ? true : null), 'the cache seeing the destroy');
  await bus!.call(path, 'org.libvirt.Domain', 'Create', 'u', [0]);
  await eventually(async () => ((await stateOfTest()) === 'RUNNING' ? true : null), 'the cache seeing the start');
  assert.equal(sub.items.length, 1, 'nothing is published before it is in the log');

  unlinkSync(filler);
  const events = await sub.next(3, 30_000);
  assert.deepEqual(
    events.slice(1).map((e: any) => `${e.domainEvents.type} ${e.domainEvents.domain.name}`),
    ['STOPPED test', 'STARTED test'],
    'the held events arrive, in order',
  );
  const db = new Database(join(dataDir, 'virtplane.sqlite'), { readonly: true });
  try {
    const logged = db.prepare(`select type from events where subject_name = 'test' order by id`).all() as { type: string }[];
    assert.deepEqual(
      logged.map((r) => r.type),
      ['STOPPED', 'STARTED', 'STOPPED', 'STARTED'],
      'every event is in the log',
    );
  } finally {
    db.close();
  }
  await eventually(async () => ((await healthz()).status === 200 ? true : null), '/healthz 200 once space returned', 1200);
  const audit = await server.gql(`{ auditLog(first: 10, filter: { result: "STORAGE_UNAVAILABLE" }) { edges { node { action result } } } }`);
  assert.deepEqual(
    audit.data?.auditLog.edges.map((e: any) => e.node.action),
    ['destroyDomain'],
    `the refusal is recorded: ${JSON.stringify(audit)}`,
  );
  const again = await server.gql(ACTION('destroyDomain'), { id: testDomain.id });
  assert.equal(again.data.r.__typename, 'DomainActionSuccess', JSON.stringify(again.data));
  sub.unsubscribe();
});

test('a start on a full disk serves reads, reports storage failing, and takes writes once space returns', async () => {
  await s!.stop();
  s = undefined;
  fillDisk();
  s = await startTestServer({ dataDir });
  const server = s;
  const health = await fetch(server.url.replace('/graphql', '/healthz'));
  assert.equal(health.status, 503, 'unhealthy while the disk is full');
  const r = await server.gql(`{ domains(first: 10) { totalCount edges { node { name } } } viewer { name } }`);
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  assert.ok(r.data.domains.totalCount >= 1, 'domains are listed');
  unlinkSync(filler);
  await eventually(
    async () => ((await fetch(server.url.replace('/graphql', '/healthz'))).status === 200 ? true : null),
    '/healthz 200 once space returned',
    1200,
  );
});
