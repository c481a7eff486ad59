import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startLibvirtStack } from './libvirt-stack.js';
import { startTestServer, type TestServer } from './server.js';

/** The `virtplane` command as `npm exec virtplane` runs it (the workspace bin). */
export const CLI_BIN = resolve('node_modules/.bin/virtplane');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `virtplane ARGS` as a subprocess (never synchronously: the server under test shares this event loop).
 * `env` is added to a clean environment of PATH, HOME and XDG_CONFIG_HOME (no VIRTPLANE_* from outside).
 */
export function runCli(args: string[], opts: { env?: Record<string, string>; input?: string; configHome: string }): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(CLI_BIN, args, {
      env: { PATH: process.env.PATH ?? '', HOME: opts.configHome, XDG_CONFIG_HOME: opts.configHome, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (status) => done({ status, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * A server on the test driver whose libvirt (a private bus with libvirt-dbus) outlives it: restart() stops the
 * server and starts a new one on the same data directory and port, so guests and the event log stay.
 */
export async function startRestartableServer(): Promise<{ server: () => TestServer; restart(): Promise<void>; stop(): Promise<void> }> {
  const stack = await startLibvirtStack();
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-cli-'));
  const bus = { kind: 'address' as const, address: stack.stack.address };
  let server: TestServer;
  try {
    server = await startTestServer({ bus, dataDir });
  } catch (err) {
    await stack.stop();
    throw err;
  }
  const port = Number(new URL(server.url).port);
  let running = true;
  return {
    server: () => server,
    async restart() {
      await server.stop();
      running = false;
      server = await startTestServer({ bus, dataDir, port });
      running = true;
    },
    async stop() {
      if (running) await server.stop();
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
