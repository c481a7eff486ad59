import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import { pino, type DestinationStream } from 'pino';
import WebSocket from 'ws';
import { DEFAULT_LIMITS, type Config } from '../../src/config.js';
import { virtplaneFilterNames } from '../../src/libvirt/xml/nwfilter.js';
import { startVirtplane, type Virtplane } from '../../src/main.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface GqlResponse<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

/** A log destination whose records land in `lines` (parsed), for tests of what the server logs. */
export function captureLog(): { log: DestinationStream; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }, lines };
}

export interface TestServer {
  app: Virtplane;
  url: string;
  wsUrl: string;
  dataDir: string;
  /** POSTs an operation; `token` null sends no Authorization header. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<GqlResponse<T>>;
  /** A graphql-ws client authenticated with `token` (default: the admin token). */
  ws(token?: string | null): Client;
  /** What the server logged at level error or above (kept unless `opts.log` takes the log): for failure messages. */
  loggedErrors(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * Starts the whole server the way `npm start` does — embedded private bus, libvirt-dbus, test driver —
 * in a temporary data directory, on a free loopback port. stop() ends every process it started.
 * Host firewall changes are off unless `nft` is given. With `dataDir` given (e.g. to restart a server on
 * the same database), the caller owns that directory and stop() leaves it. `opts.log` receives the server's log.
 */
export async function startTestServer(overrides: Partial<Config> = {}, opts: { log?: DestinationStream } = {}): Promise<TestServer> {
  // A given dataDir is kept on stop(), so a test can start a second server on the same database.
  const ownDir = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'virtplane-test-'));
  // On the shared libvirtd every server gets its own storage pool (made at start-up), removed again by stop().
  const qemuPool =
    overrides.driver === 'QEMU' && !overrides.provisioning ? `vptest-pool-${process.pid}-${randomBytes(4).toString('hex')}` : null;
  const config: Config = {
    host: '127.0.0.1',
    port: 0,
    dataDir,
    bus: null,
    driver: 'Test',
    otherHosts: [],
    adminToken: ADMIN_TOKEN,
    logLevel: 'silent',
    development: false,
    limits: DEFAULT_LIMITS,
    publicHost: 'vm-host.example.net',
    imagePools: [],
    nft: { binary: null, table: 'virtplane' },
    provisioning: {
      storagePool: qemuPool ?? 'virtplane',
      storageDir: join(dataDir, 'storage'),
      domainType: 'auto',
      maxVcpus: null,
      maxMemoryMiB: null,
      maxDiskGiB: 1024,
      partitions: false,
    },
    ...overrides,
  };
  // `opts.log` gets every line the server logs, at every level (to check what never reaches a log); else its
  // errors are kept, for a failing test to show why (an INTERNAL_SERVER_ERROR says nothing of its cause).
  const errors = captureLog();
  const logger = opts.log
    ? pino({ level: 'trace' }, opts.log)
    : process.env.TEST_LOG_LEVEL
      ? pino({ level: process.env.TEST_LOG_LEVEL })
      : pino({ level: 'error' }, errors.log);
  const app = await startVirtplane(config, logger);
  const wsUrl = app.url.replace(/^http/, 'ws');
  const clients: Client[] = [];

  return {
    app,
    url: app.url,
    wsUrl,
    dataDir,
    async gql(query, variables, token = ADMIN_TOKEN) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(app.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as GqlResponse;
      return { ...body, status: res.status };
    },
    loggedErrors: () => errors.lines,
    ws(token = ADMIN_TOKEN) {
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: true,
        connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      });
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => Promise.resolve(c.dispose())));
      await app.stop();
      if (config.driver === 'QEMU') {
        // This server's own nwfilters (named after its instance): host-wide, so they go with it.
        const { clean, router, spoofing } = virtplaneFilterNames(app.instance.nwfilterPrefix);
        for (const name of [clean, router, spoofing]) {
          try {
            execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'nwfilter-undefine', name], { stdio: 'ignore' });
          } catch {
            /* never defined, or still bound to a NIC of a guest the test left */
          }
        }
      }
      if (qemuPool) {
        for (const cmd of ['pool-destroy', 'pool-undefine']) {
          try {
            execFileSync('virsh', ['-q', '-c', 'qemu:///system', cmd, qemuPool], { stdio: 'ignore' });
          } catch {
            /* never made, or already gone */
          }
        }
      }
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Collects events of one subscription; `next(n)` waits until n have arrived (or fails after timeoutMs). */
export function collect<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const items: T[] = [];
  const errors: unknown[] = [];
  let waiters: (() => void)[] = [];
  let completed = false;
  const wake = () => {
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  };
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        if (v.errors) errors.push(...v.errors);
        if (v.data) items.push(v.data);
        wake();
      },
      error: (e) => {
        errors.push(e);
        wake();
      },
      complete: () => {
        completed = true;
        wake();
      },
    },
  );
  return {
    items,
    errors,
    get completed() {
      return completed;
    },
    unsubscribe,
    async next(n: number, timeoutMs = 10_000): Promise<T[]> {
      const deadline = Date.now() + timeoutMs;
      while (items.length < n) {
        if (errors.length) throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
        if (completed) throw new Error(`subscription completed after ${items.length} of ${n} items`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${n} items, got ${items.length}: ${JSON.stringify(items)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return items.slice(0, n);
    },
  };
}

export function domainGlobalId(uuid: string): string {
  return Buffer.from(`Domain:${uuid}`).toString('base64');
}
