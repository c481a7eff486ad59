import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * libvirtd is one host-wide daemon, shared by every QEMU test file (they may run in parallel). Each user
 * registers its PID; the daemons are started by the first user if none runs, and stopped by the last one to
 * leave — and only if a test started them (an operator's own libvirtd is left alone).
 */
const STATE_DIR = '/run/virtplane-test';
const USERS = join(STATE_DIR, 'libvirtd-users');
const LOCK = join(STATE_DIR, 'lock');
const STARTED_MARK = join(STATE_DIR, 'started-by-tests');
const SOCKET = '/var/run/libvirt/libvirt-sock';
const PID_FILES = { libvirtd: '/run/libvirtd.pid', virtlogd: '/run/virtlogd.pid' };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return pid > 0 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(STATE_DIR, { recursive: true });
  for (let i = 0; ; i++) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'owner'), String(process.pid));
      break;
    } catch {
      // A lock whose owner died is stale.
      const owner = Number(existsSync(join(LOCK, 'owner')) ? readFileSync(join(LOCK, 'owner'), 'utf8') : 0);
      if (owner && !alive(owner)) rmSync(LOCK, { recursive: true, force: true });
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

/** Makes sure libvirtd (and virtlogd) run for this process until release(). */
export async function acquireLibvirtd(): Promise<LibvirtdLease> {
  await withLock(async () => {
    mkdirSync(USERS, { recursive: true });
    if (!(await socketAnswers())) {
      if (!pidOf(PID_FILES.virtlogd)) execFileSync('virtlogd', ['-d']);
      execFileSync('libvirtd', ['-d']);
      writeFileSync(STARTED_MARK, '');
      for (let i = 0; i < 200 && !(await socketAnswers()); i++) await sleep(50);
      if (!(await socketAnswers())) throw new Error('libvirtd did not open its socket');
    }
    writeFileSync(join(USERS, String(process.pid)), '');
  });
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await withLock(async () => {
        rmSync(join(USERS, String(process.pid)), { force: true });
        const others = readdirSync(USERS).filter((p) => alive(Number(p)));
        if (others.length === 0 && existsSync(STARTED_MARK)) {
          await stopDaemon(PID_FILES.libvirtd);
          await stopDaemon(PID_FILES.virtlogd);
          rmSync(STARTED_MARK, { force: true });
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
