import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LibvirtBus } from '../libvirt/bus.js';
import { cleanStale, PID_FILE, processStartTime, type ProcessId } from './run-dir.js';
import { spawnTied } from './tied-child.js';

/**
 * The embedded default: a private D-Bus bus and `libvirt-dbus --session` run as children of the server, so a
 * fresh clone needs no system services. PIDs (with start times, and the owning process') go to
 * `<runDir>/pids.json`; a later start ends what a crashed one left behind before binding the socket again, and
 * refuses to start while the owner still runs. libvirt-dbus is restarted with backoff if it dies; if the bus
 * daemon dies, a new one is started on the same socket path, then libvirt-dbus on it. Both children die with
 * the server even when it is SIGKILLed (see tied-child.ts).
 */
export interface EmbeddedStack {
  /** D-Bus address of the private bus. */
  readonly address: string;
  /** PID of the current libvirt-dbus child (changes after a restart). */
  libvirtDbusPid(): number | undefined;
  /** PID of the current dbus-daemon child (changes after a restart). */
  daemonPid(): number | undefined;
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

/** Backoff before the next restart of a child that exited: grows while it keeps failing, from 100 ms to 5 s. */
function backoff(failures: number): number {
  return Math.min(100 * 2 ** (failures - 1), 5000);
}

export async function startEmbeddedStack(runDir: string, opts: EmbeddedOptions = {}): Promise<EmbeddedStack> {
  const log = opts.log;
  mkdirSync(runDir, { recursive: true });
  cleanStale(runDir, log);

  const socket = join(runDir, 'bus');
  // The same path for every dbus-daemon this stack runs: after a restart, clients reconnect to it as it was.
  const address = `unix:path=${socket}`;
  // Our own bus configuration: a session bus WITHOUT service directories. The stock session config would
  // bus-activate /usr/share/dbus-1/services/org.libvirt.service on the first call after libvirt-dbus died,
  // starting an unmanaged libvirt-dbus behind our back (and hiding the outage from /healthz).
  const configFile = join(runDir, 'bus.conf');
  // Written only when it differs: a start on a full disk finds it from the previous run and needs no space.
  if (!existsSync(configFile) || readFileSync(configFile, 'utf8') !== BUS_CONFIG) writeFileSync(configFile, BUS_CONFIG);

  let daemon: ChildProcess | undefined;
  let libvirtDbus: ChildProcess | undefined;
  /** False from the moment the bus daemon exits until a new one answers: libvirt-dbus cannot run without it. */
  let daemonUp = false;
  let stopping = false;
  let failures = 0;
  let daemonFailures = 0;
  let paused = false;
  let downWhilePaused = false;
  const owner: ProcessId = { pid: process.pid, start: processStartTime(process.pid) };
  const id = (c: ChildProcess | undefined): ProcessId | undefined => (c?.pid ? { pid: c.pid, start: processStartTime(c.pid) } : undefined);
  const writePids = () => {
    try {
      writeFileSync(
        join(runDir, PID_FILE),
        JSON.stringify({ owner, children: { 'dbus-daemon': id(daemon), 'libvirt-dbus': id(libvirtDbus) } }),
      );
    } catch (err) {
      // Only a later start's clean-up after a crash needs it; a full disk must not keep the stack from running.
      log?.('cannot record the embedded children', { err: String(err) });
    }
  };

  const startDaemon = async () => {
    rmSync(socket, { force: true });
    const child = spawnTied(
      'dbus-daemon',
      [`--config-file=${configFile}`, '--nofork', '--nopidfile', `--address=${address}`, '--print-address=1'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    daemon = child;
    const startedAt = Date.now();
    // As root without CAP_SYS_RESOURCE, dbus-daemon warns that it cannot raise its fd limit: harmless.
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk
        .toString()
        .split('\n')
        .filter((l) => l && !l.includes('Failed to set fd limit'))
        .join('\n');
      if (text) process.stderr.write(text + '\n');
    });
    child.once('exit', (code, signal) => {
      if (stopping || daemon !== child) return;
      daemonUp = false;
      // libvirt-dbus loses its bus with the daemon; it is started again on the new one, not on a dead socket.
      libvirtDbus?.kill('SIGTERM');
      if (Date.now() - startedAt > STABLE_RUN_MS) daemonFailures = 0;
      daemonFailures++;
      const delay = backoff(daemonFailures);
      log?.('dbus-daemon exited; restarting it, then libvirt-dbus', { code, signal, delayMs: delay });
      if (opts.restart === false) return;
      scheduleStackRestart(delay);
    });
    writePids();
    await waitForLine(child, 5000);
    daemonUp = true;
  };

  const scheduleStackRestart = (delay: number) => {
    setTimeout(() => {
      if (stopping) return;
      startDaemon()
        .then(async () => {
          if (paused) downWhilePaused = true;
          else await startLibvirtDbus();
        })
        .catch((err) => {
          log?.('restarting the embedded bus failed', { err: String(err) });
          if (stopping) return;
          // A daemon that never came up is ended: its exit schedules the next try (one place, so never two daemons).
          if (!daemonUp) daemon?.kill('SIGKILL');
          else if (!libvirtDbus || libvirtDbus.exitCode !== null || libvirtDbus.signalCode !== null)
            scheduleLibvirtDbusRestart(libvirtDbus, backoff(++failures));
        });
    }, delay).unref();
  };

  const scheduleLibvirtDbusRestart = (exited: ChildProcess | undefined, delay: number) => {
    setTimeout(() => {
      // Not when a newer one runs already, nor while the bus is down (its restart starts libvirt-dbus).
      if (stopping || libvirtDbus !== exited || !daemonUp) return;
      startLibvirtDbus().catch((err) => log?.('libvirt-dbus restart failed', { err: String(err) }));
    }, delay).unref();
  };

  const startLibvirtDbus = async () => {
    const child = spawnTied('libvirt-dbus', ['--session'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address },
    });
    libvirtDbus = child;
    const startedAt = Date.now();
    writePids();
    child.once('exit', (code, signal) => {
      if (stopping || libvirtDbus !== child || !daemonUp) return;
      if (paused) {
        log?.('libvirt-dbus exited; restarts are paused', { code, signal });
        downWhilePaused = true;
        return;
      }
      // Backoff grows while it keeps crashing; only a run that lasted counts as recovered.
      if (Date.now() - startedAt > STABLE_RUN_MS) failures = 0;
      failures++;
      const delay = backoff(failures);
      log?.('libvirt-dbus exited; restarting', { code, signal, delayMs: delay });
      if (opts.restart === false) return;
      scheduleLibvirtDbusRestart(child, delay);
    });
    await waitForName(address, 10_000);
  };

  // A synchronous last resort: if the parent exits without stop(), children must not outlive it.
  const onExit = () => {
    for (const c of [libvirtDbus, daemon]) if (c?.pid && c.exitCode === null) c.kill('SIGKILL');
  };
  process.once('exit', onExit);

  try {
    await startDaemon();
    await startLibvirtDbus();
  } catch (err) {
    stopping = true;
    process.removeListener('exit', onExit);
    await stopChild(libvirtDbus);
    await stopChild(daemon);
    rmSync(join(runDir, PID_FILE), { force: true });
    throw err;
  }

  return {
    address,
    libvirtDbusPid: () => libvirtDbus?.pid,
    daemonPid: () => daemon?.pid,
    pauseRestarts(p: boolean) {
      paused = p;
      if (!p && downWhilePaused && !stopping && daemonUp) {
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
