/**
 * virtplane event monitor: tails domain lifecycle events, one line per event, and never misses or repeats one.
 *
 *   VIRTPLANE_URL=ws://127.0.0.1:4000/graphql VIRTPLANE_TOKEN=vp_... npx tsx clients/monitor/monitor.ts [cursor-file]
 *
 * After each printed event its cursor is saved to the cursor file (default ./monitor.cursor, written atomically).
 * On start, and after any disconnect (server restart, network, "slow consumer" close 4008), it resubscribes with
 * `after: <saved cursor>`: the server replays what was missed, then continues live. If the cursor is older than
 * the server keeps (CURSOR_EXPIRED), it says so, prints the current state of every domain, and starts afresh.
 * Copy it as the model for your own monitoring scripts.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.VIRTPLANE_URL ?? 'ws://127.0.0.1:4000/graphql';
const token = process.env.VIRTPLANE_TOKEN;
const cursorFile = process.argv[2] ?? './monitor.cursor';
if (!token) {
  process.stderr.write('set VIRTPLANE_TOKEN to an API token\n');
  process.exit(2);
}

const EVENTS = `subscription($after: String) {
  domainEvents(after: $after) { cursor at type detail state synthetic domain { name uuid } } }`;
const DOMAINS = `query($after: String) { domains(first: 1000, after: $after) {
  edges { node { name uuid state } } pageInfo { hasNextPage endCursor } } }`;

interface DomainEvent {
  cursor: string;
  at: string;
  type: string;
  detail: string;
  state: string;
  synthetic: boolean;
  domain: { name: string; uuid: string };
}

interface DomainsPage {
  domains: {
    edges: { node: { name: string; uuid: string; state: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

const loadCursor = (): string | null => (existsSync(cursorFile) ? readFileSync(cursorFile, 'utf8').trim() || null : null);
const saveCursor = (cursor: string) => {
  writeFileSync(`${cursorFile}.tmp`, cursor + '\n');
  renameSync(`${cursorFile}.tmp`, cursorFile);
};
const log = (line: string) => process.stdout.write(line + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function printCurrentState(client: Client): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const page = await new Promise<FormattedExecutionResult<DomainsPage, unknown>>((resolve, reject) => {
      let result: FormattedExecutionResult<DomainsPage, unknown> | undefined;
      client.subscribe<DomainsPage>({ query: DOMAINS, variables: { after } }, { next: (r) => (result = r), error: reject, complete: () => resolve(result!) });
    });
    if (page.errors) throw new Error(JSON.stringify(page.errors));
    const { domains } = page.data!;
    for (const { node } of domains.edges) log(`${new Date().toISOString()} ${node.name} CURRENT state=${node.state}`);
    if (!domains.pageInfo.hasNextPage) return;
    after = domains.pageInfo.endCursor;
  }
}

/**
 * Why a connection ended, in words. graphql-ws hands its error sink whatever ended the socket: a CloseEvent
 * (code and reason), the socket's ErrorEvent when it never connected (a plain object whose `message` is e.g.
 * "connect ECONNREFUSED 127.0.0.1:4000"), an Error, or the GraphQL errors of a refused operation.
 */
function describeDisconnect(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (Array.isArray(err)) return err.map((e) => describeDisconnect(e)).join('; ');
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; reason?: unknown; message?: unknown; error?: unknown };
    if (typeof e.code === 'number') return `close code ${e.code}${typeof e.reason === 'string' && e.reason ? ` (${e.reason})` : ''}`;
    if (typeof e.message === 'string' && e.message) return e.message;
    if (e.error instanceof Error) return e.error.message;
    return JSON.stringify(err);
  }
  return String(err);
}

/** One connection: resolves when it ends, with the reason. */
function tail(client: Client, after: string | null): Promise<'expired' | 'closed'> {
  return new Promise((resolve) => {
    client.subscribe<{ domainEvents: DomainEvent }>(
      { query: EVENTS, variables: { after } },
      {
        next: (r) => {
          if (r.errors?.some((e) => e.extensions?.code === 'CURSOR_EXPIRED')) return resolve('expired');
          if (r.errors) {
            process.stderr.write(`subscription error: ${JSON.stringify(r.errors)}\n`);
            return;
          }
          const e = r.data!.domainEvents;
          log(`${e.at} ${e.domain.name} ${e.type}/${e.detail} state=${e.state}${e.synthetic ? ' synthetic' : ''} cursor=${e.cursor}`);
          saveCursor(e.cursor);
        },
        error: (err) => {
          process.stderr.write(`disconnected: ${describeDisconnect(err)}\n`);
          resolve('closed');
        },
        complete: () => resolve('closed'),
      },
    );
  });
}

let stopping = false;
let current: Client | null = null;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    stopping = true;
    void current?.dispose();
    process.exit(0);
  });
}

let backoff = 250;
let relist = false;
while (!stopping) {
  const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: { authorization: `Bearer ${token}` } });
  current = client;
  const started = Date.now();
  const cursor = loadCursor();
  const ended = tail(client, cursor);
  // A round trip on the same connection: once it returns, the subscription is in place.
  void new Promise((resolve, reject) => client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: () => resolve(null) })).then(
    () => process.stderr.write(`monitor: listening ${cursor ? `after ${cursor}` : 'from now'}\n`),
    () => {},
  );
  if (relist) {
    // Subscribed first, listed second: a change in between shows up as an event, never as a gap.
    relist = false;
    await printCurrentState(client).catch((err) => process.stderr.write(`listing failed: ${String(err)}\n`));
  }
  const outcome = await ended;
  await client.dispose();
  if (outcome === 'expired') {
    log(`${new Date().toISOString()} cursor expired: the server no longer keeps events that old; listing the current state`);
    rmSync(cursorFile, { force: true });
    relist = true;
  } else {
    backoff = Date.now() - started > 10_000 ? 250 : Math.min(backoff * 2, 10_000);
    await sleep(backoff);
  }
}
