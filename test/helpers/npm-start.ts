import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface NpmStarted {
  /** The `npm start` process (the PID a service manager would hold). */
  npm: ChildProcess;
  /** Where the server listens, from its "virtplane listening" log line. */
  url: string;
  /** Log lines (pino JSON) read so far. */
  lines: string[];
  /** SIGTERM to npm's PID, as a service manager stops it; resolves with its exit code. */
  stop(): Promise<number | null>;
}

/**
 * `npm start` exactly as an operator runs it, with `env` added to this process's environment (PORT 0 unless
 * given); resolves once the server listens. The caller stops it (stop(), or killing what it started).
 */
export async function npmStart(env: Record<string, string>): Promise<NpmStarted> {
  const npm = spawn('npm', ['start'], { env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  npm.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = once(npm, 'exit');
  const reader = createInterface({ input: npm.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    reader.on('line', (line) => {
      lines.push(line);
      if (line.includes('"virtplane listening"')) resolve((JSON.parse(line) as { url: string }).url);
    });
    void exited.then(([code]) => reject(new Error(`npm start exited with ${code} before listening:\n${lines.join('\n')}\n${stderr}`)));
  });
  return {
    npm,
    url,
    lines,
    async stop() {
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
