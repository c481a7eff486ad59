import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// A run directory of the embedded stack: the PIDs of its children (pids.json) with their owner, and what a
// start does with what an earlier run left behind.

/** The children's PIDs, with the owner that started them, in the run directory. */
export const PID_FILE = 'pids.json';

/**
 * The kernel's start time of a live process (clock ticks since boot, /proc/<pid>/stat field 22): with the PID,
 * it names one process. Null when there is none, or only a zombie (dead, not yet reaped by its parent).
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** A process recorded as pid + start time: the same one only while both match (a PID is reused after it exits). */
export interface ProcessId {
  pid: number;
  start: string | null;
}

function sameProcess(p: ProcessId): boolean {
  const start = processStartTime(p.pid);
  return start !== null && (p.start === null || p.start === start);
}

/**
 * Whether `pid` is still the child we started in `runDir`: the program, and its bus socket (dbus-daemon has it
 * on its command line, libvirt-dbus in its environment), so an unrelated process that took the PID is spared.
 */
function isOurChild(pid: number, name: string, runDir: string): boolean {
  const socket = join(runDir, 'bus');
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(name)) return false;
    const where = name === 'dbus-daemon' ? cmdline : readFileSync(`/proc/${pid}/environ`, 'utf8');
    return where.includes(`unix:path=${socket}`);
  } catch {
    return false;
  }
}

interface PidFile {
  owner?: ProcessId;
  children?: Record<string, ProcessId | undefined>;
  /** The format before owners were recorded: name → PID. */
  [name: string]: unknown;
}

/** Thrown when the process that started the stack in this run directory still runs. */
export class RunDirInUseError extends Error {
  constructor(
    readonly runDir: string,
    readonly ownerPid: number,
  ) {
    super(`${runDir} is in use by a running process (PID ${ownerPid})`);
    this.name = 'RunDirInUseError';
  }
}

/**
 * Ends children a previous run left behind (crash, SIGKILL) and removes its stale socket — only when the run
 * that started them is gone (its PID and start time no longer name a live process) and each PID still is
 * that child (program and socket checked in /proc). A live owner's stack is refused, not touched.
 */
export function cleanStale(runDir: string, log?: (msg: string, fields?: Record<string, unknown>) => void): void {
  const file = join(runDir, PID_FILE);
  if (existsSync(file)) {
    let recorded: PidFile | null = null;
    try {
      recorded = JSON.parse(readFileSync(file, 'utf8')) as PidFile;
    } catch {
      /* unreadable pid file: nothing we can trust in it */
    }
    if (recorded?.owner && sameProcess(recorded.owner)) throw new RunDirInUseError(runDir, recorded.owner.pid);
    const children: [string, ProcessId][] = recorded?.children
      ? Object.entries(recorded.children).flatMap(([n, p]) => (p ? [[n, p] as [string, ProcessId]] : []))
      : Object.entries(recorded ?? {}).flatMap(([n, p]) =>
          typeof p === 'number' ? [[n, { pid: p, start: null }] as [string, ProcessId]] : [],
        );
    for (const [name, child] of children) {
      if (!sameProcess(child) || !isOurChild(child.pid, name, runDir)) continue;
      log?.('ending stale embedded child', { name, pid: child.pid });
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(file, { force: true });
  }
  rmSync(join(runDir, 'bus'), { force: true });
}
