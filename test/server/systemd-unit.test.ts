import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { startLibvirtStack } from '../helpers/libvirt-stack.js';

/** deploy/virtplane.service is a unit systemd accepts, and its command starts the server and stops on its signal. */
const UNIT = 'deploy/virtplane.service';

/** The [Service] settings of a unit file: each key with its values in order (a key may repeat). */
function serviceSection(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) section = line;
    else if (section === '[Service]') {
      const eq = line.indexOf('=');
      const key = line.slice(0, eq);
      out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
    }
  }
  return out;
}

test('systemd-analyze verify accepts the unit: every setting parses and ExecStart is executable', () => {
  const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
  assert.ok(!r.error, `systemd-analyze is needed (Debian package systemd; it need not be the init system): ${r.error}`);
  // Bad values are only warnings (exit 0), so the output must be empty too.
  assert.equal(`${r.status} ${r.stdout}${r.stderr}`.trim(), '0', 'systemd-analyze verify complains');
});

test("the unit runs what npm start runs, and its ExecStart, with the unit's environment, serves and stops on KillSignal", async () => {
  const service = serviceSection(readFileSync(UNIT, 'utf8'));
  const [execStart] = service.get('ExecStart')!;
  const [binary, ...args] = execStart!.split(' ');
  const npmStart = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
  assert.equal(
    `exec ${execStart!.replace(/^\/usr\/bin\/env /, '')}`,
    npmStart,
    'the unit should run the same command as npm start (tested on the system bus)',
  );
  const env: Record<string, string> = {};
  for (const value of service.get('Environment') ?? []) {
    for (const assignment of value.split(/\s+/))
      env[assignment.slice(0, assignment.indexOf('='))] = assignment.slice(assignment.indexOf('=') + 1);
  }
  assert.deepEqual(
    [env.VIRTPLANE_BUS, env.VIRTPLANE_DRIVER, env.VIRTPLANE_DATA_DIR],
    ['system', 'QEMU', '/var/lib/virtplane'],
    'the real-host settings',
  );
  assert.deepEqual(service.get('KillMode'), ['mixed'], 'SIGTERM to the server, then SIGKILL to anything left in its cgroup');

  // Here: the checkout for WorkingDirectory, and (so that no host bus is needed) a private bus with the
  // test driver instead of the system bus; the rest of the environment is the unit's.
  const stack = await startLibvirtStack();
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-unit-'));
  try {
    const child = spawn(binary!, args, {
      cwd: resolve('.'),
      env: {
        PATH: process.env.PATH!,
        ...env,
        VIRTPLANE_BUS: stack.stack.address,
        VIRTPLANE_DRIVER: 'Test',
        VIRTPLANE_DATA_DIR: dataDir,
        PORT: '0',
        VIRTPLANE_ADMIN_TOKEN: 'unit-admin-token-0123456789abcdef',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let url = '';
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.includes('"virtplane listening"')) {
        url = (JSON.parse(line) as { url: string }).url;
        break;
      }
    }
    child.stdout.resume();
    const health = await fetch(url.replace(/\/graphql$/, '/healthz'));
    assert.equal(health.status, 200, 'the server started from ExecStart answers /healthz');
    child.kill(service.get('KillSignal')![0] as NodeJS.Signals);
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [0, null], "the server exits 0 on the unit's KillSignal");
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
