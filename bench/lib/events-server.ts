/** A virtplane server for bench/events.ts, in its own process (its own core): prints where it listens. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_LIMITS } from '../../src/config.js';
import { startVirtplane } from '../../src/main.js';

const BENCH_TOKEN = process.env.BENCH_TOKEN!;

const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-bench-'));
const app = await startVirtplane(
  { host: '127.0.0.1', port: 0, dataDir, bus: null, driver: 'Test', adminToken: BENCH_TOKEN, logLevel: 'silent', development: false,
    limits: DEFAULT_LIMITS, publicHost: 'localhost', imagePools: [], nft: { binary: null, table: 'virtplane' },
    events: { maxCount: 0, maxAgeMs: 0, bufferLimit: 5000 } },
  pino({ level: 'silent' }),
);
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
process.on('SIGTERM', () => {
  app.stop().finally(() => {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
});
process.stdout.write(JSON.stringify({ url: app.url, bus: app.embedded!.address, pid: process.pid }) + '\n');
