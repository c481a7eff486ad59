import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN } from '../helpers/server.js';
import { startRestartableServer } from '../helpers/virtplane-cli.js';

let vp: Awaited<ReturnType<typeof startRestartableServer>>;
const dir = mkdtempSync(join(tmpdir(), 'virtplane-script-'));

before(async () => {
  vp = await startRestartableServer();
});
after(async () => {
  await vp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('clients/cli/examples/tenant-lifecycle.sh: tenant, quota, guest, its events across a server restart, deletion — with virtplane and jq only', async () => {
  // The script's RESTART hook asks this test to restart the server and waits until it has.
  const restartHook = `touch '${dir}/restart'; while [ ! -e '${dir}/restarted' ]; do sleep 0.1; done`;
  const child = spawn('sh', ['clients/cli/examples/tenant-lifecycle.sh'], {
    env: {
      PATH: `${resolve('node_modules/.bin')}:${process.env.PATH ?? ''}`,
      HOME: dir,
      XDG_CONFIG_HOME: dir,
      VIRTPLANE_URL: vp.server().url,
      VIRTPLANE_TOKEN: ADMIN_TOKEN,
      RESTART: restartHook,
      NETWORK: 'default',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', r));

  let restarted = false;
  const deadline = Date.now() + 120_000;
  while (!restarted && child.exitCode === null && Date.now() < deadline) {
    if (existsSync(join(dir, 'restart'))) {
      await vp.restart();
      writeFileSync(join(dir, 'restarted'), '');
      restarted = true;
    } else await new Promise((r) => setTimeout(r, 100));
  }
  const status = await exited;
  assert.equal(status, 0, `the script failed:\n${stdout}\n${stderr}`);
  assert.ok(restarted, 'the server was restarted while the events were followed');
  const lines = stdout.trim().split('\n');
  assert.match(
    lines[0]!,
    /^\{"limits":\{"maxDomains":2,"maxVcpus":4,"maxMemoryMiB":4096,"maxDiskGiB":20,"maxInterfaces":2,"maxPortForwards":0\}\}$/,
  );
  assert.match(lines[1]!, /^tenant acme: \S+$/);
  assert.deepEqual(lines.slice(2), [
    '{"name":"web-1","state":"RUNNING"}',
    '{"name":"web-1","state":"PAUSED"}',
    '{"name":"web-1","state":"RUNNING"}',
    // Each event once, in order, though the server restarted between the second and the third.
    'event web-1 DEFINED/ADDED',
    'event web-1 STARTED/BOOTED',
    'event web-1 SUSPENDED/PAUSED',
    'event web-1 RESUMED/UNPAUSED',
    'reconnects: 2',
    'deleted web-1',
    '{"usage":0}',
    'deleted user acme',
  ]);
});

test('README.md shows the example script as it is', () => {
  const script = readFileSync('clients/cli/examples/tenant-lifecycle.sh', 'utf8');
  assert.ok(
    readFileSync('README.md', 'utf8').includes('```sh\n' + script + '```'),
    'copy clients/cli/examples/tenant-lifecycle.sh into README.md',
  );
});
