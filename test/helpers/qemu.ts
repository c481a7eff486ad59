import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, me, readOr, running, startTime } from './process-identity.js';

/**
 * libvirtd is one host-wide daemon, shared by every QEMU test file (they may run in parallel). Each user
 * registers its PID; the daemons are started by the first user if none runs, and stopped by the last one to
 * leave — and only if a test started them (an operator's own libvirtd is left alone). A process that must
 * restart libvirtd takes it exclusively: it waits for the others to leave and nobody joins until it releases.
 */
const STATE_DIR = '/run/virtplane-test';
const USERS = join(STATE_DIR, 'libvirtd-users');
const LOCK = join(STATE_DIR, 'lock');
const STARTED_MARK = join(STATE_DIR, 'started-by-tests');
/** Holds the PID of a process that has libvirtd to itself (see acquireLibvirtd({ exclusive: true })). */
const EXCLUSIVE = join(STATE_DIR, 'exclusive');
const SOCKET = '/var/run/libvirt/libvirt-sock';
const PID_FILES = { libvirtd: '/run/libvirtd.pid', virtlogd: '/run/virtlogd.pid' };

/**
 * The PID a daemon's PID file names, while that process is the daemon (its command name is the file's, e.g.
 * `libvirtd`): after a crash the file stays, and its number may be any other process's by now — which
 * `stopDaemon` must never signal.
 */
function pidOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    const daemon = basename(file, '.pid');
    return pid > 0 && alive(pid) && readOr(`/proc/${pid}/comm`, '').trim() === daemon ? pid : null;
  } catch {
    return null;
  }
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(STATE_DIR, { recursive: true });
  for (let i = 0; ; i++) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'owner'), me());
      break;
    } catch {
      // A lock whose owner died is stale.
      const owner = readOr(join(LOCK, 'owner'), '');
      if (owner && !running(owner)) rmSync(LOCK, { recursive: true, force: true });
      if (i > 600) throw new Error('timed out waiting for the libvirtd test lock');
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function socketAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(SOCKET);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function stopDaemon(file: string): Promise<void> {
  const pid = pidOf(file);
  if (!pid) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

export interface LibvirtdLease {
  release(): Promise<void>;
}

/** A lease no other test process shares: it may stop and start libvirtd. */
export interface ExclusiveLibvirtdLease extends LibvirtdLease {
  /** Stops libvirtd (SIGTERM, as an operator's restart would); running guests stay up. */
  stopLibvirtd(): Promise<void>;
  /** Starts libvirtd again and waits until its socket answers. */
  startLibvirtd(): Promise<void>;
  /** Whether a libvirtd process runs (its PID file names a live process). */
  libvirtdRunning(): boolean;
}

/** Whether a live process holds libvirtd exclusively (a holder that died without releasing holds nothing). */
function exclusiveHolder(): boolean {
  const holder = readOr(EXCLUSIVE, '');
  return holder !== '' && running(holder);
}

/** The other processes registered as users; the files of those that died without leaving are removed. */
function otherUsers(): number[] {
  const users: number[] = [];
  for (const name of readdirSync(USERS)) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (running(`${pid}:${readOr(join(USERS, name), '')}`)) users.push(pid);
    else rmSync(join(USERS, name), { force: true });
  }
  return users;
}

async function startDaemons(): Promise<void> {
  if (!pidOf(PID_FILES.virtlogd)) execFileSync('virtlogd', ['-d']);
  execFileSync('libvirtd', ['-d']);
  for (let i = 0; i < 200 && !(await socketAnswers()); i++) await sleep(50);
  if (!(await socketAnswers())) throw new Error('libvirtd did not open its socket');
}

/** Registers this process as a user, starting the daemons if none runs. Call under the lock. */
async function register(): Promise<void> {
  mkdirSync(USERS, { recursive: true });
  if (!(await socketAnswers())) {
    await startDaemons();
    writeFileSync(STARTED_MARK, '');
  }
  writeFileSync(join(USERS, String(process.pid)), String(startTime(process.pid)));
}

/** Unregisters this process; the last user stops the daemons if a test started them. Call under the lock. */
async function unregister(): Promise<void> {
  rmSync(join(USERS, String(process.pid)), { force: true });
  if (otherUsers().length === 0 && existsSync(STARTED_MARK)) {
    await stopDaemon(PID_FILES.libvirtd);
    await stopDaemon(PID_FILES.virtlogd);
    rmSync(STARTED_MARK, { force: true });
  }
}

/**
 * Makes sure libvirtd (and virtlogd) run for this process until release().
 * With `exclusive`, waits until no other process holds a lease, and keeps every other process from acquiring
 * one until release(), so the holder may restart libvirtd without breaking another test.
 */
export async function acquireLibvirtd(opts: { exclusive: true }): Promise<ExclusiveLibvirtdLease>;
export async function acquireLibvirtd(opts?: { exclusive?: false }): Promise<LibvirtdLease>;
export async function acquireLibvirtd(opts: { exclusive?: boolean } = {}): Promise<LibvirtdLease | ExclusiveLibvirtdLease> {
  if (opts.exclusive) return acquireExclusive();
  // Wait while another process holds libvirtd exclusively (it may be restarting it) — unless this process is
  // a user already: the exclusive holder is still waiting for it to leave, so it must not wait in turn.
  for (let registered = false; !registered;) {
    registered = await withLock(async () => {
      if (exclusiveHolder() && !existsSync(join(USERS, String(process.pid)))) return false;
      await register();
      return true;
    });
    if (!registered) await sleep(200);
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await withLock(unregister);
    },
  };
}

async function acquireExclusive(): Promise<ExclusiveLibvirtdLease> {
  // First claim the exclusive mark (so nobody new registers), then wait for the current users to leave.
  for (let claimed = false; !claimed;) {
    claimed = await withLock(async () => {
      if (exclusiveHolder()) return false;
      mkdirSync(USERS, { recursive: true });
      writeFileSync(EXCLUSIVE, me());
      return true;
    });
    if (!claimed) await sleep(200);
  }
  try {
    for (let i = 0; ; i++) {
      const done = await withLock(async () => {
        if (otherUsers().length > 0) return false;
        await register();
        return true;
      });
      if (done) break;
      if (i > 6000) throw new Error('timed out waiting for the other libvirtd users to leave');
      await sleep(200);
    }
  } catch (err) {
    rmSync(EXCLUSIVE, { force: true });
    throw err;
  }
  let released = false;
  let stoppedByUs = false;
  return {
    async stopLibvirtd() {
      stoppedByUs = true;
      await stopDaemon(PID_FILES.libvirtd);
    },
    libvirtdRunning() {
      return pidOf(PID_FILES.libvirtd) !== null;
    },
    async startLibvirtd() {
      if (!(await socketAnswers())) await startDaemons();
      stoppedByUs = false;
    },
    async release() {
      if (released) return;
      released = true;
      await withLock(async () => {
        try {
          // Whatever happened in the test, libvirtd runs again before anyone else gets it.
          if (stoppedByUs || !(await socketAnswers())) await startDaemons();
          await unregister();
        } finally {
          rmSync(EXCLUSIVE, { force: true });
        }
      });
    },
  };
}

/** `<domain type='kvm'>` when /dev/kvm is usable by libvirt's qemu user, else TCG. */
export function domainType(): 'kvm' | 'qemu' {
  return process.env.VIRTPLANE_TEST_KVM === '1' ? 'kvm' : 'qemu';
}

/** A unique prefix for libvirt objects a test creates on the shared daemon. */
export function uniquePrefix(tag: string): string {
  return `vptest-${tag}-${process.pid}-${Date.now().toString(36)}`;
}

let bridges = 0;

/**
 * A Linux bridge name no other test process uses at the same time: `vp`, this process's PID and a counter
 * (at most 15 characters, as Linux allows).
 */
export function uniqueBridge(): string {
  return `vp${process.pid.toString(36)}x${(bridges++).toString(36)}`;
}

/** virsh against the system daemon, for assertions and cleanup that must not depend on the code under test. */
export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { encoding: 'utf8' });
}

export function virshQuiet(...args: string[]): void {
  try {
    execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** What a test made on the host's libvirtd, for `undoQemuTest`. */
export interface MadeOnHost {
  guests?: readonly string[];
  network?: string;
  /** Network links to delete (a bridge libvirt may have removed already, a dummy, a veth). */
  links?: readonly string[];
  server?: { stop(): Promise<void> } | undefined;
  pool?: string;
  dir?: string;
  lease?: LibvirtdLease | undefined;
}

/**
 * Undoes whatever a test got to, in the order that lets each step work: guests, then their network and links,
 * then the server (so it hears nothing more), the pool, the directory, and last the lease on libvirtd.
 */
export async function undoQemuTest(made: MadeOnHost): Promise<void> {
  for (const guest of made.guests ?? []) {
    virshQuiet('destroy', guest);
    virshQuiet('undefine', guest, '--nvram', '--managed-save');
  }
  if (made.network) {
    virshQuiet('net-destroy', made.network);
    virshQuiet('net-undefine', made.network);
  }
  for (const link of made.links ?? []) spawnSync('ip', ['link', 'del', link], { stdio: 'ignore' });
  await made.server?.stop();
  if (made.pool) {
    virshQuiet('pool-destroy', made.pool);
    virshQuiet('pool-undefine', made.pool);
  }
  if (made.dir) rmSync(made.dir, { recursive: true, force: true });
  await made.lease?.release();
}

/**
 * Defines the smallest guest that boots (no disk, no NIC, nothing to boot from; it sits in the firmware)
 * under `name` on the system libvirtd, and returns its UUID. The caller undefines it in its `after` hook.
 */
export function defineTinyGuest(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'virtplane-qemu-'));
  try {
    writeFileSync(
      join(dir, 'guest.xml'),
      `<domain type='${domainType()}'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices><serial type='pty'/></devices>
</domain>`,
    );
    virsh('define', join(dir, 'guest.xml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return virsh('domuuid', name).trim();
}
