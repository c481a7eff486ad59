import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { CLI_BIN, runCli } from '../helpers/virtplane-cli.js';

let s: TestServer;
const home = mkdtempSync(join(tmpdir(), 'virtplane-cli-home-'));
let tenantToken = '';

before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
  rmSync(home, { recursive: true, force: true });
});

/** `virtplane ARGS` as the admin (or `token`), through the environment. */
const vp = (args: string[], token = ADMIN_TOKEN) =>
  runCli(args, { configHome: home, env: { VIRTPLANE_URL: s.url, VIRTPLANE_TOKEN: token } });
/** `virtplane --output json ARGS`, parsed; fails unless it exits 0. */
async function json<T = any>(args: string[], token = ADMIN_TOKEN): Promise<T> {
  const r = await vp(['--output', 'json', ...args], token);
  assert.equal(r.status, 0, `virtplane ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
/** The exit status and the parsed JSON error of a command that must fail. */
async function failure(args: string[], token = ADMIN_TOKEN): Promise<{ status: number | null; error: Record<string, unknown> }> {
  const r = await vp(['--output', 'json', ...args], token);
  assert.equal(r.stdout, '', 'nothing on standard output');
  return { status: r.status, error: (JSON.parse(r.stderr) as { error: Record<string, unknown> }).error };
}

test('login reads the token from standard input and stores server and token with mode 0600; the environment overrides them', async () => {
  const login = await runCli(['login', s.url], { configHome: home, input: `${ADMIN_TOKEN}\n` });
  assert.equal(login.status, 0, login.stderr);
  assert.match(login.stderr, /logged in to http:\/\/127\.0\.0\.1:\d+ as admin \(ADMIN\)/);
  assert.ok(!login.stderr.includes(ADMIN_TOKEN) && !login.stdout.includes(ADMIN_TOKEN), 'the token is never printed');
  const file = join(home, 'virtplane', 'config.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(home, 'virtplane')).mode & 0o777, 0o700);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { url: new URL(s.url).origin, token: ADMIN_TOKEN });

  const who = await runCli(['whoami', '-o', 'json'], { configHome: home });
  assert.equal(who.status, 0, who.stderr);
  assert.deepEqual((({ name, role }) => ({ name, role }))(JSON.parse(who.stdout) as { name: string; role: string }), {
    name: 'admin',
    role: 'ADMIN',
  });

  // VIRTPLANE_URL wins over the stored server: a port nothing listens on (bound, then released) is exit 3.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  const away = await runCli(['host'], { configHome: home, env: { VIRTPLANE_URL: `http://127.0.0.1:${port}` } });
  assert.equal(away.status, 3);
  assert.equal(
    away.stderr,
    `virtplane: UNREACHABLE: cannot reach http://127.0.0.1:${port}/graphql: connect ECONNREFUSED 127.0.0.1:${port}\n`,
  );
  // VIRTPLANE_TOKEN wins over the stored token.
  const bad = await runCli(['domain', 'list'], { configHome: home, env: { VIRTPLANE_TOKEN: 'not-a-token-at-all-000' } });
  assert.equal(bad.status, 4);
  assert.match(bad.stderr, /^virtplane: UNAUTHENTICATED: /);

  const out = await runCli(['logout'], { configHome: home });
  assert.equal(out.status, 0);
  const none = await runCli(['domain', 'list'], { configHome: home });
  assert.equal(none.status, 3);
  assert.match(none.stderr, /NOT_LOGGED_IN: no server configured: run `virtplane login URL`/);
});

test('an admin makes a tenant with a quota and a token; the tenant creates, drives, resizes and deletes a domain (JSON output)', async () => {
  const user = await json(['user', 'create', 'globex']);
  assert.equal(user.name, 'globex');
  assert.equal(user.role, 'TENANT');
  assert.equal(user.__typename, undefined, 'JSON output carries data only');
  const quota = await json([
    'quota',
    'set',
    'globex',
    '--domains',
    '1',
    '--vcpus',
    '2',
    '--memory',
    '2048',
    '--disk',
    '10',
    '--interfaces',
    '1',
  ]);
  assert.deepEqual(quota.limits, { maxDomains: 1, maxVcpus: 2, maxMemoryMiB: 2048, maxDiskGiB: 10, maxInterfaces: 1, maxPortForwards: 0 });
  const token = await json(['token', 'create', 'globex', '--label', 'cli-test']);
  assert.match(token.token, /^vp_/);
  assert.equal(token.apiToken.label, 'cli-test');
  tenantToken = token.token as string;
  const tokens = await json(['token', 'list', 'globex']);
  assert.deepEqual(
    tokens.map((t: { label: string }) => t.label),
    ['cli-test'],
  );

  const created = await json(
    ['domain', 'create', 'db-1', '--vcpus', '1', '--memory', '1024', '--disk', '5', '--network', 'default', '--start', '--wait'],
    tenantToken,
  );
  assert.deepEqual([created.name, created.state, created.vcpus, created.owner.name], ['db-1', 'RUNNING', 1, 'globex']);
  const listed = await json(['domain', 'list'], tenantToken);
  assert.deepEqual(
    listed.map((d: { name: string }) => d.name),
    ['db-1'],
    'a tenant sees only its own domains',
  );

  assert.equal((await json(['domain', 'suspend', 'db-1'], tenantToken)).state, 'PAUSED');
  assert.equal((await json(['domain', 'resume', created.id as string], tenantToken)).state, 'RUNNING');

  // Typed errors: code, message and their own fields on stderr, a documented exit code.
  const running = await failure(['domain', 'resize', 'db-1', '--vcpus', '2'], tenantToken);
  assert.equal(running.status, 6);
  assert.equal(running.error.code, 'INVALID_STATE');
  const over = await failure(
    ['domain', 'create', 'db-2', '--vcpus', '1', '--memory', '512', '--disk', '1', '--network', 'default'],
    tenantToken,
  );
  assert.equal(over.status, 8);
  assert.deepEqual(over.error, {
    code: 'QUOTA_EXCEEDED',
    message: over.error.message,
    type: 'QuotaExceededError',
    resource: 'DOMAINS',
    limit: 1,
    used: 1,
    requested: 1,
  });
  const forbidden = await failure(['user', 'list'], tenantToken);
  assert.deepEqual([forbidden.status, forbidden.error.code], [4, 'FORBIDDEN']);
  const missing = await failure(['domain', 'show', 'no-such-domain'], tenantToken);
  assert.deepEqual([missing.status, missing.error.code], [5, 'NOT_FOUND']);

  assert.equal((await json(['domain', 'destroy', 'db-1'], tenantToken)).state, 'SHUTOFF');
  const resized = await json(['domain', 'resize', 'db-1', '--vcpus', '2', '--memory', '2048'], tenantToken);
  assert.deepEqual([resized.vcpus, resized.memoryMiB], [2, 2048]);
  const mine = await json(['quota', 'show'], tenantToken);
  assert.deepEqual(mine.usage, { domains: 1, vcpus: 2, memoryMiB: 2048, diskGiB: 5, interfaces: 1, portForwards: 0 });

  const table = await vp(['domain', 'list'], tenantToken);
  assert.equal(table.status, 0);
  assert.match(table.stdout, /^NAME\s+STATE\s+VCPUS\s+MEMORYMIB\s+OWNER\s+IPV4\s+ID\n/);
  assert.match(table.stdout, /\ndb-1\s+SHUTOFF\s+2\s+2048\s+globex\s/);

  assert.equal((await json(['domain', 'delete', 'db-1'], tenantToken)).name, 'db-1');
  assert.deepEqual(await json(['domain', 'list'], tenantToken), []);
  assert.equal((await json(['quota', 'show', 'globex'])).usage.domains, 0);
});

test('events: the log as JSON lines after a cursor, and --follow replaying from a cursor then going live', async () => {
  const log = await vp(['--output', 'json', 'events']);
  assert.equal(log.status, 0, log.stderr);
  const all = log.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { cursor: string; type: string; domain: { name: string } });
  assert.ok(all.length >= 6, 'the domain of the previous test left events');
  const last = all.at(-1)!.cursor;

  // Two events while nobody follows, one while following: --after replays the two, then the live one.
  await vp(['domain', 'suspend', 'test']);
  await vp(['domain', 'resume', 'test']);
  const child = spawn(CLI_BIN, ['events', '--follow', '--after', last, '--count', '3', '--output', 'json', '--domain', 'test'], {
    env: { PATH: process.env.PATH ?? '', HOME: home, VIRTPLANE_URL: s.url, VIRTPLANE_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', r));
  while (!stderr.includes('virtplane: listening')) await new Promise((r) => setTimeout(r, 100));
  await vp(['domain', 'suspend', 'test']);
  assert.equal(await exited, 0, stderr);
  const followed = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; detail: string; domain: { name: string } });
  assert.deepEqual(
    followed.map((e) => `${e.domain.name} ${e.type}/${e.detail}`),
    ['test SUSPENDED/PAUSED', 'test RESUMED/UNPAUSED', 'test SUSPENDED/PAUSED'],
  );
  await vp(['domain', 'resume', 'test']);
});

test('admin listings: host, networks, port forwards, images, audit log; usage errors exit 2 and --help exits 0', async () => {
  assert.equal((await json(['host'])).driver, 'Test');
  assert.deepEqual(
    (await json(['network', 'list'])).map((n: { name: string }) => n.name),
    ['default'],
  );
  assert.deepEqual(await json(['forward', 'list']), []);
  assert.deepEqual(await json(['image', 'list']), []);
  const audit = await json(['audit', '--limit', '3', '--action', 'createUser']);
  assert.deepEqual(
    audit.map((a: { action: string; result: string }) => [a.action, a.result]),
    [['createUser', 'SUCCESS']],
  );

  const usage = await vp(['domain', 'create', 'x']);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /required option '--vcpus <n>' not specified/);
  const help = await vp(['quota', 'set', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: virtplane quota set \[options\] <user>/);
});

test('host list, drain and undrain by name, host events after a cursor; a tenant is refused', async () => {
  const [host] = await json<{ name: string; state: string; id: string }[]>(['host', 'list']);
  assert.equal(host?.state, 'UP');
  const before = (await s.gql(`{ events(first: 1000) { edges { cursor } } }`)).data.events.edges.at(-1).cursor as string;
  const drained = await json(['host', 'drain', host.name]);
  assert.deepEqual({ state: drained.state, draining: drained.draining }, { state: 'DRAINING', draining: true });
  assert.equal((await json(['host', 'list']))[0].state, 'DRAINING');
  assert.ok(tenantToken, 'the tenant made by the test above');
  const placed = await failure(
    ['domain', 'create', 'nowhere', '--vcpus', '1', '--memory', '256', '--disk', '1', '--network', 'default'],
    tenantToken,
  );
  assert.deepEqual([placed.status, placed.error.code], [8, 'NO_HOST_AVAILABLE'], 'no host takes it: a limit, exit 8');
  const undrained = await json(['host', 'undrain', host.id]);
  assert.equal(undrained.state, 'UP');
  const followed = await vp(['host', 'events', '--after', before, '--count', '2', '-o', 'json']);
  assert.equal(followed.status, 0, followed.stderr);
  assert.deepEqual(
    followed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; detail: string; hostName: string })
      .map((e) => [e.type, e.detail, e.hostName]),
    [
      ['DRAINING', 'DRAIN_SET', host.name],
      ['UP', 'DRAIN_CLEARED', host.name],
    ],
  );
  const refused = await failure(['host', 'list'], tenantToken);
  assert.equal(refused.error.code, 'FORBIDDEN');

  // An admin names the host of a new guest by its name; a name no host has is refused before anything is asked.
  const create = ['domain', 'create', 'pinned', '--vcpus', '1', '--memory', '256', '--disk', '1', '--network', 'default'];
  const pinned = await json([...create, '--host', host.name]);
  const where = await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { host { name } } } }`, { id: pinned.id });
  assert.equal(where.data.node.host.name, host.name);
  const nowhere = await failure([...create.slice(0, 2), 'pinned-2', ...create.slice(3), '--host', 'no-such-host']);
  assert.equal(nowhere.error.code, 'NOT_FOUND');
  assert.equal((await vp(['domain', 'delete', pinned.id])).status, 0);
});

test('bash completion offers the subcommands of what was typed so far', async () => {
  const script = await vp(['completion', 'bash']);
  assert.equal(script.status, 0);
  const complete = (words: string[]) =>
    new Promise<string>((done) => {
      const bash = spawn(
        'bash',
        ['-c', `eval "$SCRIPT"; COMP_WORDS=(${words.join(' ')}); COMP_CWORD=${words.length - 1}; _virtplane; echo "\${COMPREPLY[*]}"`],
        {
          env: { SCRIPT: script.stdout, PATH: process.env.PATH ?? '' },
        },
      );
      let out = '';
      bash.stdout.on('data', (d: Buffer) => (out += d.toString()));
      bash.on('close', () => done(out.trim()));
    });
  assert.equal(await complete(['virtplane', 'domain', 's']), 'show start shutdown suspend');
  assert.equal(await complete(['virtplane', 'qu']), 'quota');
  assert.equal(await complete(['virtplane', 'quota', 'set', '--d']), '--domains --disk');
});

test('console: the serial console needs a guest that has one (not on the test driver); --graphics prints the one-time page URL', async () => {
  const serial = await vp(['console', 'test']);
  assert.equal(serial.status, 9, serial.stderr);
  assert.match(serial.stderr, /^virtplane: UNSUPPORTED: this domain has no serial console socket/);
  await json(['domain', 'create', 'con-1', '--vcpus', '1', '--memory', '256', '--disk', '1', '--network', 'default', '--start', '--wait']);
  const graphics = await json(['console', 'con-1', '--graphics']);
  const page = new URL(graphics.pageUrl as string);
  assert.equal(page.pathname, '/console/graphics');
  assert.equal(page.origin, new URL(s.url).origin);
  assert.ok(page.searchParams.get('ticket') || page.hash, `the URL carries its ticket: ${page.pathname}`);
  await json(['domain', 'delete', 'con-1']);
});

test('storage pools and network events (admins): pool list, and network events followed while a network stops and starts', async () => {
  const pools = await json<{ name: string; state: string }[]>(['pool', 'list']);
  assert.ok(
    pools.some((p) => p.name === 'virtplane' && p.state === 'RUNNING'),
    JSON.stringify(pools),
  );

  const child = spawn(CLI_BIN, ['network', 'events', '--network', 'default', '--count', '2', '--output', 'json'], {
    env: { PATH: process.env.PATH ?? '', HOME: home, VIRTPLANE_URL: s.url, VIRTPLANE_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', r));
  while (!stderr.includes('virtplane: listening from now on')) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await json(['network', 'stop', 'default'])).active, false);
  assert.equal((await json(['network', 'start', 'default'])).active, true);
  assert.equal(await exited, 0, stderr);
  const events = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; network: { name: string } });
  assert.deepEqual(
    events.map((e) => `${e.network.name} ${e.type}`),
    ['default STOPPED', 'default STARTED'],
  );
});
