import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { npmStart } from '../helpers/npm-start.js';
import { childrenOf, commandLine, killAll, parentOf, processGone, waitGone } from '../helpers/processes.js';

/**
 * Whatever ends the server — SIGKILL, a service manager's SIGTERM to the PID it started — its children end
 * with it; and a test process killed by SIGTERM leaves none of the stacks its helpers started.
 */
const started: number[] = [];
const dirs: string[] = [];
after(() => {
  killAll(started);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `npm start` on a fresh data dir, and the PIDs of the server and its children. */
async function startServer(): Promise<{ npm: ChildProcess; server: number; bus: number; libvirtDbus: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-lifetime-'));
  dirs.push(dataDir);
  const { npm } = await npmStart({ VIRTPLANE_DATA_DIR: dataDir, VIRTPLANE_ADMIN_TOKEN: 'lifetime-admin-token-0123456789' });
  started.push(npm.pid!);
  const { children } = JSON.parse(readFileSync(join(dataDir, 'run', 'pids.json'), 'utf8')) as { children: Record<string, { pid: number }> };
  const bus = children['dbus-daemon']!.pid;
  const libvirtDbus = children['libvirt-dbus']!.pid;
  const server = parentOf(bus)!;
  started.push(server, bus, libvirtDbus);
  assert.match(commandLine(server), /src\/cli\.ts/, `the bus's parent ${server} should be the server (${commandLine(server)})`);
  return { npm, server, bus, libvirtDbus };
}

test('a SIGKILLed server leaves no dbus-daemon or libvirt-dbus behind', async () => {
  const { npm, server, bus, libvirtDbus } = await startServer();
  const exited = once(npm, 'exit');
  process.kill(server, 'SIGKILL');
  assert.deepEqual(
    await waitGone([server, bus, libvirtDbus]),
    [],
    `processes outlived the killed server: ${[bus, libvirtDbus]
      .filter((p) => !processGone(p))
      .map(commandLine)
      .join(', ')}`,
  );
  await exited;
});

test('SIGTERM to the PID of `npm start` (as a service manager sends it) stops the server and its children', async () => {
  const { npm, server, bus, libvirtDbus } = await startServer();
  const exited = once(npm, 'exit');
  process.kill(npm.pid!, 'SIGTERM');
  await exited;
  assert.deepEqual(
    await waitGone([server, bus, libvirtDbus]),
    [],
    `processes outlived npm start: ${[server, bus, libvirtDbus]
      .filter((p) => !processGone(p))
      .map(commandLine)
      .join(', ')}`,
  );
});

test('a test process killed by SIGTERM leaves none of the buses and libvirt-dbus its helpers started', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/hold-stacks.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child.pid!);
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const ready = JSON.parse(line) as { dataDir: string; stackAddress: string };
    dirs.push(ready.dataDir, ready.stackAddress.replace(/^unix:path=/, '').replace(/\/bus$/, ''));
    break;
  }
  lines.close();
  // (tsx's esbuild service is a child too, and not what this is about.)
  const helpers = childrenOf(child.pid!).filter((p) => /^(dbus-daemon|libvirt-dbus) /.test(commandLine(p)));
  started.push(...helpers);
  // Two stacks: a dbus-daemon and a libvirt-dbus each.
  assert.equal(helpers.length, 4, `expected 4 children of the test process, found: ${helpers.map(commandLine).join(', ')}`);
  const exited = once(child, 'exit');
  process.kill(child.pid!, 'SIGTERM');
  await exited;
  assert.deepEqual(
    await waitGone(helpers),
    [],
    `processes outlived the test process: ${helpers
      .filter((p) => !processGone(p))
      .map(commandLine)
      .join(', ')}`,
  );
});
