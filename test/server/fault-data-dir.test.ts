import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/** Runs `npm start`'s entry point as its own process and waits for it to end (the cases here all end it). */
async function runCli(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'error', VIRTPLANE_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr, stdout };
}

/** Starts `npm start`'s entry point as its own process and resolves once it listens. */
async function startCli(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', VIRTPLANE_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('virtplane listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before it listened: ${out}`)));
  });
  return child;
}

/** Whether the process recorded as `pid` with `start` still runs (a reused PID is another process; a zombie is dead). */
function alive(pid: number, start: string | null): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return false; // dead, waiting to be reaped
    return start === null || fields[19] === start;
  } catch {
    return false;
  }
}

/** Processes whose command line or environment names `dir` (what a start in that data directory runs). */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmdline.includes(dir) || environ.includes(`unix:path=${dir}`)) found.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

describe('one data directory, one server', () => {
  let first: TestServer;
  let port: string;
  before(async () => {
    first = await startTestServer();
    port = new URL(first.url).port;
  });
  after(async () => {
    await first?.stop();
  });

  test('a second start on the same data directory is refused with one line, and the first keeps working', async () => {
    const libvirtDbus = first.app.embedded!.libvirtDbusPid()!;
    // The same port too, as two `npm start` with the defaults would have.
    const second = await runCli({ VIRTPLANE_DATA_DIR: first.dataDir, PORT: port });
    assert.notEqual(second.code, 0, 'the second instance exits with a failure');
    const lines = second.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stderr, got: ${second.stderr}`);
    assert.match(lines[0]!, /data directory .* is in use by another virtplane \(PID \d+\)/);
    assert.ok(!/\n\s+at /.test(second.stderr), `no stack trace: ${second.stderr}`);

    // The first server's libvirt stack was not touched: same libvirt-dbus, still answering.
    assert.equal(first.app.embedded!.libvirtDbusPid(), libvirtDbus, 'the first libvirt-dbus was not replaced');
    const health = await fetch(first.url.replace('/graphql', '/healthz'));
    assert.equal(health.status, 200, 'the first server is healthy');
    const r = await first.gql(`{ host { driver } domains(first: 5) { totalCount } }`);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    assert.equal(r.data.host.driver, 'Test');
  });
});

describe('a port already in use', () => {
  let taken: Server;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'virtplane-port-'));
    taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
  });
  after(async () => {
    taken?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('start-up fails with one clear line, no stack trace, and leaves nothing running', async () => {
    const port = String((taken.address() as { port: number }).port);
    const r = await runCli({ VIRTPLANE_DATA_DIR: dir, PORT: port });
    assert.notEqual(r.code, 0, 'the server exits with a failure');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
    assert.match(lines[0]!, new RegExp(`127\\.0\\.0\\.1:${port}.*already in use`));
    assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace: ${r.stderr}`);
    assert.deepEqual(processesUsing(dir), [], 'no process of that start is left');
    assert.equal(existsSync(join(dir, 'run', 'pids.json')), false, 'no children recorded as running');
  });
});

describe('a start after a crash', () => {
  let dir: string;
  const started: ChildProcess[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'virtplane-crash-'));
  });
  after(() => {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
    // Whatever a failed run left in this directory only.
    for (const line of processesUsing(dir)) process.kill(Number(line.split(' ')[0]), 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('ends the children the crashed server left behind, then stops cleanly on SIGTERM', async () => {
    const crashed = await startCli({ VIRTPLANE_DATA_DIR: dir });
    started.push(crashed);
    const left = JSON.parse(readFileSync(join(dir, 'run', 'pids.json'), 'utf8')).children as Record<
      string,
      { pid: number; start: string | null }
    >;
    crashed.kill('SIGKILL');
    await once(crashed, 'exit');

    const next = await startCli({ VIRTPLANE_DATA_DIR: dir });
    started.push(next);
    for (const [name, p] of Object.entries(left)) assert.equal(alive(p.pid, p.start), false, `the crashed run's ${name} was ended`);
    next.kill('SIGTERM');
    const [code] = (await once(next, 'exit')) as [number | null];
    assert.equal(code, 0, 'a clean stop');
    assert.deepEqual(processesUsing(dir), [], 'nothing of either run is left');
  });
});
