import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * util-linux's setpriv (essential on Debian) sets the kernel's parent-death signal and then execs the program,
 * so the child keeps its own PID and command line. A stop() or an 'exit' handler cannot run when the parent is
 * SIGKILLed (or killed by a signal it does not handle); the kernel's signal still arrives.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;

/**
 * Spawns `command` so that it is killed (SIGKILL) when this process dies, for whatever reason. Without setpriv
 * the child is spawned plainly and only the parent's own clean-up ends it.
 * The parent-death signal belongs to the thread that spawned the child: call this from the main thread.
 */
export function spawnTied(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  if (!SETPRIV) return spawn(command, args, options);
  return spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', command, ...args], options);
}

/** Whether children spawned by spawnTied die with this process (false where setpriv is missing). */
export const childrenTiedToParent = SETPRIV !== null;
