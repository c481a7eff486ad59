import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LibvirtBus } from './bus.js';
import { spawnTied } from './tied-child.js';

/**
 * The embedded default: a private D-Bus bus and `libvirt-dbus --session` run as children of the server, so a
 * fresh clone needs no system services. PIDs go to `<runDir>/pids.json`; a later start ends what a crashed
 * one left behind before binding the socket again. libvirt-dbus is restarted with backoff if it dies.
 * Both children die with the server even when it is SIGKILLed (see tied-child.ts), so a crashed server
 * leaves no bus behind to be found by the next start.
 */
export interface EmbeddedStack {
  /** D-Bus address of the private bus. */
  readonly address: string;
  /** PID of the current libvirt-dbus child (changes after a restart). */
  libvirtDbusPid(): number | undefined;
  /**
   * While paused, a libvirt-dbus that dies stays down until restarts are resumed (then it starts at once):
   * lets an operator — or a fault test — hold libvirt away for as long as needed.
   */
  pauseRestarts(paused: boolean): void;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Restart libvirt-dbus when it exits unexpectedly (default true). */
  restart?: boolean;
}

const PID_FILE = 'pids.json';
/** A libvirt-dbus that ran this long before exiting had recovered: its restart backoff starts over. */
const STABLE_RUN_MS = 30_000;

const BUS_CONFIG = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
</busconfig>
`;

function isOurProcess(pid: number, names: string[]): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return names.some((n) => cmdline.includes(n));
  } catch {
    return false;
  }
}

/** Ends children a previous run left behind (crash, SIGKILL) and removes its stale socket. */
function cleanStale(runDir: string, log: EmbeddedOptions['log']): void {
  const file = join(runDir, PID_FILE);
  if (existsSync(file)) {
    try {
      const pids = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
      for (const [name, pid] of Object.entries(pids)) {
        if (pid && isOurProcess(pid, ['dbus-daemon', 'libvirt-dbus'])) {
          log?.('ending stale embedded child', { name, pid });
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
    } catch {
      /* unreadable pid file: nothing we can trust in it */
    }
    rmSync(file, { force: true });
  }
  rmSync(join(runDir, 'bus'), { force: true });
}

async function waitForLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('dbus-daemon did not print its address')), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl).trim());
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dbus-daemon exited with ${code} before it was ready`));
    });
  });
}

async function waitForName(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const bus = await LibvirtBus.connect({ kind: 'address', address });
  try {
    while (Date.now() < deadline) {
      if (await bus.libvirtHasOwner()) return;
      await sleep(25);
    }
  } finally {
    bus.disconnect();
  }
  throw new Error('libvirt-dbus did not take the name org.libvirt in time');
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

export async function startEmbeddedStack(runDir: string, opts: EmbeddedOptions = {}): Promise<EmbeddedStack> {
  const log = opts.log;
  mkdirSync(runDir, { recursive: true });
  cleanStale(runDir, log);

  const socket = join(runDir, 'bus');
  // Our own bus configuration: a session bus WITHOUT service directories. The stock session config would
  // bus-activate /usr/share/dbus-1/services/org.libvirt.service on the first call after libvirt-dbus died,
  // starting an unmanaged libvirt-dbus behind our back (and hiding the outage from /healthz).
  const configFile = join(runDir, 'bus.conf');
  writeFileSync(configFile, BUS_CONFIG);
  const daemon = spawnTied('dbus-daemon', [`--config-file=${configFile}`, '--nofork', '--nopidfile', `--address=unix:path=${socket}`, '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // As root without CAP_SYS_RESOURCE, dbus-daemon warns that it cannot raise its fd limit: harmless.
  daemon.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString().split('\n').filter((l) => l && !l.includes('Failed to set fd limit')).join('\n');
    if (text) process.stderr.write(text + '\n');
  });
  const address = await waitForLine(daemon, 5000);

  let libvirtDbus: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  let paused = false;
  let downWhilePaused = false;
  const writePids = () =>
    writeFileSync(join(runDir, PID_FILE), JSON.stringify({ 'dbus-daemon': daemon.pid, 'libvirt-dbus': libvirtDbus?.pid }));

  const startLibvirtDbus = async () => {
    const child = spawnTied('libvirt-dbus', ['--session'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address },
    });
    libvirtDbus = child;
    const startedAt = Date.now();
    writePids();
    child.once('exit', (code, signal) => {
      if (stopping || libvirtDbus !== child) return;
      if (paused) {
        log?.('libvirt-dbus exited; restarts are paused', { code, signal });
        downWhilePaused = true;
        return;
      }
      // Backoff grows while it keeps crashing; only a run that lasted counts as recovered.
      if (Date.now() - startedAt > STABLE_RUN_MS) failures = 0;
      failures++;
      const delay = Math.min(100 * 2 ** (failures - 1), 5000);
      log?.('libvirt-dbus exited; restarting', { code, signal, delayMs: delay });
      if (opts.restart === false) return;
      setTimeout(() => {
        if (!stopping) startLibvirtDbus().catch((err) => log?.('libvirt-dbus restart failed', { err: String(err) }));
      }, delay).unref();
    });
    await waitForName(address, 10_000);
  };

  // A synchronous last resort: if the parent exits without stop(), children must not outlive it.
  const onExit = () => {
    for (const c of [libvirtDbus, daemon]) if (c?.pid && c.exitCode === null) c.kill('SIGKILL');
  };
  process.once('exit', onExit);

  try {
    await startLibvirtDbus();
  } catch (err) {
    stopping = true;
    await stopChild(libvirtDbus);
    await stopChild(daemon);
    throw err;
  }

  return {
    address,
    libvirtDbusPid: () => libvirtDbus?.pid,
    pauseRestarts(p: boolean) {
      paused = p;
      if (!p && downWhilePaused && !stopping) {
        downWhilePaused = false;
        startLibvirtDbus().catch((err) => log?.('libvirt-dbus restart failed', { err: String(err) }));
      }
    },
    async stop() {
      stopping = true;
      process.removeListener('exit', onExit);
      await stopChild(libvirtDbus);
      await stopChild(daemon);
      rmSync(join(runDir, PID_FILE), { force: true });
      rmSync(socket, { force: true });
    },
  };
}
