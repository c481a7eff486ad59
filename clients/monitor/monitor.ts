/**
 * virtplane event monitor: tails domain lifecycle events, one line per event, and never misses or repeats one.
 *
 *   VIRTPLANE_URL=ws://127.0.0.1:4000/graphql VIRTPLANE_TOKEN=vp_... npx tsx clients/monitor/monitor.ts [cursor-file]
 *
 * After each printed event its cursor is saved to the cursor file (default ./monitor.cursor, written atomically).
 * On start it follows `after: <saved cursor>` with the SDK's `follow`, which after any disconnect (server
 * restart, network, "slow consumer" close 4008) reconnects with backoff and resumes after the last event it
 * delivered: the server replays what was missed, then continues live. If the cursor is older than the server
 * keeps (CURSOR_EXPIRED), it says so, prints the current state of every domain, and starts afresh.
 * Copy it as the model for your own monitoring scripts (clients/sdk has the rest).
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { ApiError, DomainEvents, Domains, VirtplaneClient, type ResultOf } from '@virtplane/sdk';

const url = process.env.VIRTPLANE_URL ?? 'ws://127.0.0.1:4000/graphql';
const token = process.env.VIRTPLANE_TOKEN;
const cursorFile = process.argv[2] ?? './monitor.cursor';
if (!token) {
  process.stderr.write('set VIRTPLANE_TOKEN to an API token\n');
  process.exit(2);
}
const vp = new VirtplaneClient({ url, token });

const loadCursor = (): string | null => (existsSync(cursorFile) ? readFileSync(cursorFile, 'utf8').trim() || null : null);
const saveCursor = (cursor: string) => {
  writeFileSync(`${cursorFile}.tmp`, cursor + '\n');
  renameSync(`${cursorFile}.tmp`, cursorFile);
};
const log = (line: string) => process.stdout.write(line + '\n');

async function printCurrentState(): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const { domains }: ResultOf<typeof Domains> = await vp.request(Domains, { first: 1000, after });
    if (!domains) return;
    for (const { node } of domains.edges) log(`${new Date().toISOString()} ${node.name} CURRENT state=${node.state}`);
    if (!domains.pageInfo.hasNextPage) return;
    after = domains.pageInfo.endCursor;
  }
}

const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    stop.abort();
    process.exit(0);
  });
}

let relist = false;
while (!stop.signal.aborted) {
  const cursor = loadCursor();
  try {
    const events = vp.follow(DomainEvents, {}, (d) => d.domainEvents, {
      after: cursor,
      signal: stop.signal,
      onStatus: (s) => {
        if (s.kind === 'disconnected') return void process.stderr.write(`disconnected: ${s.reason}\n`);
        process.stderr.write(`monitor: listening ${s.after ? `after ${s.after}` : 'from now'}\n`);
        if (relist) {
          // Subscribed first, listed second: a change in between shows up as an event, never as a gap.
          relist = false;
          printCurrentState().catch((err) => process.stderr.write(`listing failed: ${String(err)}\n`));
        }
      },
    });
    for await (const e of events) {
      log(`${e.at} ${e.domain.name} ${e.type}/${e.detail} state=${e.state}${e.synthetic ? ' synthetic' : ''} cursor=${e.cursor}`);
      saveCursor(e.cursor);
    }
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'CURSOR_EXPIRED') throw err;
    log(`${new Date().toISOString()} cursor expired: the server no longer keeps events that old; listing the current state`);
    rmSync(cursorFile, { force: true });
    relist = true;
  }
}
