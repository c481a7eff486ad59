import { readFileSync } from 'node:fs';

/**
 * Processes named in the files test processes share (leases, locks, reservations). A PID alone outlives its
 * process: a test process killed without cleaning up leaves its file, and the number may later be another
 * process's or a thread's (kill(tid, 0) succeeds too: one CI run waited 20 minutes on a libvirtd thread so).
 * So a process is named by its PID and its start time, and is running only while both match.
 */

/** Whether some process or thread has this number now (kill(pid, 0)): not that it is the one meant. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** When the process `pid` started (field 22 of /proc/<pid>/stat, clock ticks since boot), or null. */
export function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** This process, as `pid:start`. */
export function me(): string {
  return `${process.pid}:${startTime(process.pid)}`;
}

/** Whether the process named `pid:start` still runs (the same PID, started at the same time). */
export function running(id: string): boolean {
  const [pid, start] = id.trim().split(':');
  return Boolean(start) && start !== 'null' && startTime(Number(pid)) === start;
}

/** A file's text, or `fallback` when it cannot be read (gone, or being written right now). */
export function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}
