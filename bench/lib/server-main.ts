/**
 * A virtplane server for a benchmark, in its own process (its own core) as deployed: prints where it listens.
 * Started by server-process.ts. BENCH_KEEP_EVENTS=1 turns event retention off (the events bench counts them all).
 * BENCH_DATA_DIR=<dir> uses that data dir and leaves it behind (a bench that restarts the server on it removes it);
 * without it, a fresh one is made and removed at exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startVirtplane } from '../../src/main.js';

const BENCH_TOKEN = process.env.BENCH_TOKEN!;

const dataDir = process.env.BENCH_DATA_DIR || mkdtempSync(join(tmpdir(), 'virtplane-bench-'));
// The server's own configuration parser, so the bench follows every new setting's default.
// VIRTPLANE_* settings a benchmark passes (e.g. the QEMU driver and its storage pool) are taken over.
const passed = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('VIRTPLANE_') && k !== 'VIRTPLANE_DATA_DIR'));
const config = loadConfig({
  ...passed,
  PORT: '0',
  VIRTPLANE_DATA_DIR: dataDir,
  VIRTPLANE_ADMIN_TOKEN: BENCH_TOKEN,
  LOG_LEVEL: 'silent',
  NODE_ENV: 'production',
  // Every benchmark subscriber uses the one admin token.
  VIRTPLANE_MAX_SUBSCRIPTIONS_PER_TOKEN: '100000',
});
const app = await startVirtplane(
  process.env.BENCH_KEEP_EVENTS ? { ...config, events: { maxCount: 0, maxAgeMs: 0, bufferLimit: 5000 } } : config,
  pino({ level: 'silent' }),
);
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
process.on('SIGTERM', () => {
  void app.stop().finally(() => {
    if (!process.env.BENCH_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
});
process.stdout.write(JSON.stringify({ url: app.url, bus: app.embedded!.address, pid: process.pid }) + '\n');
