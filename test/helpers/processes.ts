import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** State and parent of a process from /proc, or null when it no longer exists. */
function stat(pid: number): { state: string; ppid: number } | null {
  try {
    // The command name (field 2) may hold spaces and parentheses: the fields that follow start after its last ')'.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** A process that exited but was not reaped (a zombie) holds nothing and counts as gone. */
export function processGone(pid: number): boolean {
  const s = stat(pid);
  return s === null || s.state === 'Z' || s.state === 'X';
}

export function parentOf(pid: number): number | null {
  return stat(pid)?.ppid ?? null;
}

/** Live processes whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => !processGone(p) && parentOf(p) === pid);
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * Waits until every PID in `pids` is gone; returns those still alive after `attempts` × 50 ms, so the caller's
 * assertion names them (a bounded wait for an asynchronous effect, not a timing assertion).
 */
export async function waitGone(pids: number[], attempts = 200): Promise<number[]> {
  for (let i = 0; i < attempts; i++) {
    if (pids.every(processGone)) return [];
    await sleep(50);
  }
  return pids.filter((p) => !processGone(p));
}

/** Kills whatever in `pids` is still alive (a test's last resort, so a failed assertion leaves nothing running). */
export function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      if (!processGone(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}
