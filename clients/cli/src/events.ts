/** `virtplane events`: the event log, and `--follow` to tail it across disconnects and server restarts. */
import { Command, type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import { DomainEvents, Events, type FollowStatus, type ResultOf, type VirtplaneClient } from '@virtplane/sdk';
import { connect } from './config.js';
import { isJson, printJsonLine } from './output.js';
import { collect, domainId, userId } from './resolve.js';
import { action, int } from './run.js';

type Event = ResultOf<typeof DomainEvents>['domainEvents'];
const TYPES = ['CRASHED', 'DEFINED', 'PMSUSPENDED', 'RESUMED', 'SHUTDOWN', 'STARTED', 'STOPPED', 'SUSPENDED', 'UNDEFINED'] as const;

/** What `--follow` says about its connection, on standard error. */
export function status(s: FollowStatus): void {
  process.stderr.write(
    s.kind === 'listening'
      ? `virtplane: listening${s.after ? ` after ${s.after}` : ' from now on'}\n`
      : `virtplane: disconnected (${s.reason}); reconnecting in ${(s.retryInMs / 1000).toFixed(1)} s\n`,
  );
}

function line(e: Event): string {
  return `${e.at} ${e.domain.name} ${e.type}/${e.detail} state=${e.state}${e.synthetic ? ' synthetic' : ''} cursor=${e.cursor}`;
}

function print(e: unknown, text: string): void {
  if (isJson()) printJsonLine(e);
  else process.stdout.write(`${text}\n`);
}

/**
 * Prints what a subscription `follow`s (JSON: one event per line) until `count` were printed, or SIGINT or
 * SIGTERM: `events --follow`, `network events` and `host events` differ only in what they follow and print.
 */
export async function printFollowed<E>(
  follow: (options: { signal: AbortSignal; onStatus: (s: FollowStatus) => void }) => AsyncIterable<E>,
  count: number,
  text: (e: E) => string,
): Promise<void> {
  if (count <= 0) return;
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  let n = 0;
  for await (const e of follow({ signal: stop.signal, onStatus: status })) {
    print(e, text(e));
    if (++n >= count) break;
  }
}

async function filterOf(vp: VirtplaneClient, o: { domain?: string; owner?: string; type?: (typeof TYPES)[number][] }) {
  return {
    domainId: o.domain ? await domainId(vp, o.domain) : undefined,
    ownerId: o.owner ? await userId(vp, o.owner) : undefined,
    types: o.type,
  };
}

export function eventsCommand(): CommandUnknownOpts {
  return new Command('events')
    .summary('Domain lifecycle events; --follow tails them across server restarts')
    .description(
      'Domain lifecycle events, oldest first: those in the log after --after (default: all kept), or with --follow ' +
        'those after --after (default: from now on) and then live. --follow reconnects with backoff when the ' +
        'connection drops (e.g. a server restart) and resumes after the last event printed: none lost or repeated. ' +
        'Each event ends with its cursor: pass it to --after to go on from there. JSON: one event per line.',
    )
    .option('--after <cursor>', 'start right after this event')
    .option('-f, --follow', 'keep printing events as they happen')
    .option('--count <n>', 'stop after this many events', int)
    .option('--domain <domain>', 'only this domain (name or ID)')
    .option('--owner <user>', 'only domains this user owned (admins; name or ID)')
    .addOption(new Option('--type <type...>', 'only these event types').choices(TYPES))
    .action(
      action(async (o) => {
        const vp = connect();
        const filter = await filterOf(vp, o);
        const count = o.count ?? Infinity;
        if (!o.follow) {
          const items = await collect(
            async (after, first) => (await vp.request(Events, { first, after: after ?? o.after ?? null, filter })).events,
            count,
            500,
          );
          for (const e of items) print(e, line(e));
          return;
        }
        await printFollowed(
          (options) => vp.follow(DomainEvents, filter, (d) => d.domainEvents, { after: o.after ?? null, ...options }),
          count,
          line,
        );
      }),
    );
}
