import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** CPU seconds (user + system) process `pid` has used so far. */
export function cpuSecondsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The admin token of the benchmark server. */
export const BENCH_TOKEN = 'bench-admin-token-0123456789abcdef';

export interface ServerProcess {
  url: string;
  /** Address of the server's private bus, for raw D-Bus clients. */
  bus: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts server-main.ts (the embedded default: private bus, libvirt-dbus, test driver) in a child process
 * with `token` as its admin token. BENCH_PROFILE=<dir> writes the server's CPU profile there.
 */
export async function startServerProcess(token: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(
    process.execPath,
    [...profile, '--expose-gc', '--import', 'tsx', new URL('./server-main.ts', import.meta.url).pathname],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env, BENCH_TOKEN: token },
    },
  );
  // Never leave the server behind, whatever happens here.
  const kill = () => child.kill('SIGTERM');
  process.once('exit', kill);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const info = await new Promise<{ url: string; bus: string; pid: number }>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (l) => resolve(JSON.parse(l)));
    child.once('exit', (c) => reject(new Error(`bench server exited with ${c}`)));
  });
  return {
    ...info,
    async stop() {
      process.off('exit', kill);
      kill();
      await exited;
    },
  };
}
