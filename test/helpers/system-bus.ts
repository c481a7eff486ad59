import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { processGone, waitGone } from './processes.js';

/** Where Debian's system bus listens (`/usr/share/dbus-1/system.conf`). */
export const SYSTEM_BUS_SOCKET = '/run/dbus/system_bus_socket';

/** The services a virtplane on the system bus makes the bus activate: libvirt-dbus, and polkitd for libvirtd. */
export const ACTIVATED_NAMES = ['org.libvirt', 'org.freedesktop.PolicyKit1'] as const;

export interface SystemBusLease {
  /** Whether this process started the system dbus-daemon (else one already ran and is left alone). */
  readonly startedHere: boolean;
  /** PID of the system dbus-daemon when this process started it. */
  readonly pid: number | null;
  /** The PID of the process owning a name on the system bus, or null. */
  ownerOf(name: string): number | null;
  /**
   * Ends what this lease caused: the services the bus activated meanwhile (libvirt-dbus, polkitd; they were
   * not running before) and, if it started it, the bus itself. Returns the PIDs it ended (none on a second call).
   */
  stop(): Promise<number[]>;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The owner of a bus name, asked from the bus itself. Activated services are not children of dbus-daemon
 * (the activation helper leaves them to init), so the bus is the one that can tell which process they are.
 */
function ownerOf(name: string): number | null {
  try {
    const out = execFileSync(
      'busctl',
      [
        '--system',
        'call',
        'org.freedesktop.DBus',
        '/org/freedesktop/DBus',
        'org.freedesktop.DBus',
        'GetConnectionUnixProcessID',
        's',
        name,
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    return Number(/^u (\d+)/.exec(out)?.[1]) || null;
  } catch {
    return null; // nobody owns it
  }
}

/**
 * Runs when the test process dies without stop() (SIGKILL, an unhandled signal): the bus drops its privileges
 * to messagebus, which clears a parent-death signal, so this watcher ends what the lease caused instead. Its
 * stdin is a pipe from the test process: EOF means the test is gone, the line "done" that stop() did the work.
 */
const GUARD = `
bus=$1; before=" $2 "
IFS= read -r line && [ "$line" = done ] && exit 0
for name in ${ACTIVATED_NAMES.join(' ')}; do
  pid=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetConnectionUnixProcessID s "$name" 2>/dev/null | sed -n 's/^u //p')
  case "$before" in *" $pid "*) ;; *) [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null ;; esac
done
if [ -n "$bus" ]; then kill -TERM "$bus" 2>/dev/null; sleep 1; kill -KILL "$bus" 2>/dev/null; rm -f ${SYSTEM_BUS_SOCKET}; fi
exit 0
`;

/**
 * Makes sure Debian's system bus runs, as a host has it: the stock system configuration, so that org.libvirt
 * and org.freedesktop.PolicyKit1 are bus-activated as the distribution configures them. Where none answers
 * (no systemd here), starts `dbus-daemon --system` itself.
 * A libvirtd connected to this bus exits when the bus stops (GDBus' exit-on-close).
 */
export async function acquireSystemBus(): Promise<SystemBusLease> {
  let daemon: ChildProcess | null = null;
  if (!(await answers(SYSTEM_BUS_SOCKET))) {
    rmSync(SYSTEM_BUS_SOCKET, { force: true });
    daemon = spawn('dbus-daemon', ['--system', '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stderr!.on('data', (b: Buffer) => {
      // Activation notices are the bus working; as root without CAP_SYS_RESOURCE it cannot raise its fd limit.
      const text = b
        .toString()
        .split('\n')
        .filter((l) => l.trim() && !/Failed to set fd limit|ctivat|^dbus-daemon\[\d+\]: *$/.test(l))
        .join('\n');
      if (text) process.stderr.write(`system dbus-daemon: ${text}\n`);
    });
    const [first] = (await Promise.race([once(daemon.stdout!, 'data'), once(daemon, 'exit').then(() => [null])])) as [Buffer | null];
    if (!first) throw new Error('the system dbus-daemon exited at start');
    daemon.stdout!.resume();
  }
  const before = ACTIVATED_NAMES.map(ownerOf).filter((p): p is number => p !== null);
  const guard = spawn('bash', ['-c', GUARD, 'guard', daemon ? String(daemon.pid) : '', before.join(' ')], {
    stdio: ['pipe', 'ignore', 'inherit'],
    // Its own session: a Ctrl-C to the test's process group must not end the watcher before it has acted.
    detached: true,
  });

  let stopped = false;
  return {
    startedHere: daemon !== null,
    pid: daemon?.pid ?? null,
    ownerOf,
    async stop() {
      if (stopped) return [];
      stopped = true;
      const caused = ACTIVATED_NAMES.map(ownerOf).filter((p): p is number => p !== null && !before.includes(p));
      for (const p of caused) process.kill(p, 'SIGTERM');
      for (const p of await waitGone(caused, 100)) process.kill(p, 'SIGKILL');
      if (daemon && !processGone(daemon.pid!)) {
        const exited = once(daemon, 'exit');
        daemon.kill('SIGTERM');
        await Promise.race([exited, sleep(5000).then(() => daemon.kill('SIGKILL'))]);
        rmSync(SYSTEM_BUS_SOCKET, { force: true });
      }
      const guardExited = once(guard, 'exit');
      guard.stdin.end('done\n');
      await guardExited;
      return caused;
    },
  };
}
