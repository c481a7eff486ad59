import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';

const TEST_DOMAIN = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');
let s: TestServer;
const dir = mkdtempSync(join(tmpdir(), 'virtplane-monitor-'));
const children: ChildProcess[] = [];

before(async () => {
  s = await startTestServer();
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startMonitor() {
  const child = spawn(process.execPath, ['--import', 'tsx', 'clients/monitor/monitor.ts', join(dir, 'cursor')], {
    env: { ...process.env, VIRTPLANE_URL: s.wsUrl, VIRTPLANE_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let listening!: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  createInterface({ input: child.stderr }).on('line', (l) => {
    if (l.startsWith('monitor: listening')) listening();
    else process.stderr.write(l + '\n');
  });
  children.push(child);
  const lines: string[] = [];
  let wake = () => {};
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    wake();
  });
  return {
    ready,
    child,
    lines,
    async waitFor(n: number) {
      const deadline = Date.now() + 20_000;
      while (lines.length < n) {
        if (Date.now() > deadline) throw new Error(`monitor printed ${lines.length} of ${n} lines: ${lines.join('\n')}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
      }
    },
  };
}

const act = (action: string) => s.gql(`mutation($id: ID!) { a: ${action}(id: $id) { __typename } }`, { id: TEST_DOMAIN });
const kind = (line: string) => line.split(' ').slice(1, 3).join(' ');

test('clients/monitor prints one line per event and, restarted, resumes from its saved cursor without loss or repeat', async () => {
  const first = startMonitor();
  await first.ready;
  await act('suspendDomain');
  await first.waitFor(1);
  await act('resumeDomain');
  await first.waitFor(2);
  first.child.kill('SIGTERM');
  await new Promise((r) => first.child.once('exit', r));
  const saved = readFileSync(join(dir, 'cursor'), 'utf8').trim();
  assert.ok(first.lines[1]!.endsWith(`cursor=${saved}`), `the monitor's second line ends with the saved cursor: ${first.lines[1]}`);

  // While it is down:
  await act('destroyDomain');
  await act('startDomain');
  const second = startMonitor();
  await second.ready;
  await second.waitFor(2);
  await act('suspendDomain');
  await second.waitFor(3);
  assert.deepEqual([...first.lines, ...second.lines].map(kind), [
    'test SUSPENDED/PAUSED',
    'test RESUMED/UNPAUSED',
    'test STOPPED/DESTROYED',
    'test STARTED/BOOTED',
    'test SUSPENDED/PAUSED',
  ]);
  second.child.kill('SIGTERM');
  await new Promise((r) => second.child.once('exit', r));
  await act('resumeDomain');
});

test('clients/monitor says in words why it is disconnected while the server is down', async () => {
  // A port nothing listens on: bound, then released.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  const child = spawn(process.execPath, ['--import', 'tsx', 'clients/monitor/monitor.ts', join(dir, 'down.cursor')], {
    env: { ...process.env, VIRTPLANE_URL: `ws://127.0.0.1:${port}/graphql`, VIRTPLANE_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const lines = createInterface({ input: child.stderr });
  let line = '';
  for await (const l of lines) {
    if (l.startsWith('disconnected')) {
      line = l;
      break;
    }
  }
  child.kill('SIGTERM');
  assert.equal(line, `disconnected: connect ECONNREFUSED 127.0.0.1:${port}`, `the monitor should name the reason, printed: ${line}`);
});
