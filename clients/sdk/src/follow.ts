/**
 * Resumable subscriptions, in any JavaScript runtime: the caller says how to open a graphql-ws connection
 * (Node's `ws` in VirtplaneClient, the browser's WebSocket in the web app); this follows a subscription across
 * disconnects, resuming after the last cursor it yielded.
 */
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { ApiError, describeDisconnect, fromGraphQLError, type GraphQLErrorLike } from './errors.js';
import type { TadaDocumentNode } from './graphql.js';

export type FollowStatus = { kind: 'listening'; after: string | null } | { kind: 'disconnected'; reason: string; retryInMs: number };

export interface FollowOptions {
  /** Resume right after this cursor (null or omitted: from now on). */
  after?: string | null;
  /** Ends the iteration. */
  signal?: AbortSignal;
  /** Told when a subscription is in place and when a connection is lost. */
  onStatus?: (status: FollowStatus) => void;
  /** Reconnect delay: doubles from `minBackoffMs` up to `maxBackoffMs`; back to the minimum after 10 s connected. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Spread each reconnect delay over 0.5–1.5 times itself, so many clients do not come back at once. */
  jitter?: boolean;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });

/**
 * A refused subscription ends the iteration with its error — but one refused by the rate limit is only a
 * wait: the server said how long (`retryAfterSeconds`), after which it is made again after the last cursor.
 */
function refusal(e: GraphQLErrorLike): { error: ApiError } | { closed: string; delayMs: number } {
  const seconds = Number(e.extensions?.retryAfterSeconds);
  if (e.extensions?.code === 'RATE_LIMITED') return { closed: e.message, delayMs: (seconds > 0 ? seconds : 1) * 1000 };
  return { error: fromGraphQLError(e) };
}

/**
 * Follows a subscription whose events carry a `cursor` and which takes `after` (domainEvents, networkEvents, hostEvents):
 * yields each event once, in order. When the connection drops (server restart, network, slow-consumer close)
 * it reconnects with backoff and resubscribes after the last cursor it yielded: the server replays what was
 * missed, so nothing is lost or repeated. A GraphQL error (e.g. CURSOR_EXPIRED, FORBIDDEN) or a refused token
 * (close 4403) ends the iteration with an ApiError; the rate limit (RATE_LIMITED, close 4429) only waits as told.
 */
export async function* followSubscription<R, V extends { after?: string | null }, E extends { cursor: string }>(
  connect: () => Client,
  document: TadaDocumentNode<R, V>,
  variables: Omit<V, 'after'>,
  pick: (data: R) => E,
  opts: FollowOptions = {},
): AsyncGenerator<E, void, undefined> {
  const min = opts.minBackoffMs ?? 250;
  const max = opts.maxBackoffMs ?? 10_000;
  const query = print(document);
  let cursor = opts.after ?? null;
  let backoff = min;
  /** `closed`: the connection ended, to be made again (after `delayMs` when the server said how long to wait). */
  const queue: ({ event: E } | { error: ApiError } | { closed: string; delayMs?: number })[] = [];
  let wake: (() => void) | null = null;
  const push = (item: (typeof queue)[number]) => {
    queue.push(item);
    wake?.();
  };
  while (!opts.signal?.aborted) {
    const client = connect();
    const started = Date.now();
    const onAbort = () => push({ closed: 'aborted' });
    opts.signal?.addEventListener('abort', onAbort);
    const unsubscribe = client.subscribe<R>(
      { query, variables: { ...variables, after: cursor } },
      {
        next: (r) => {
          if (r.errors?.length) return push(refusal(r.errors[0] as GraphQLErrorLike));
          if (r.data) push({ event: pick(r.data) });
        },
        error: (err) => {
          if (Array.isArray(err)) return push(refusal(err[0] as GraphQLErrorLike));
          const { code, reason } = (err ?? {}) as { code?: unknown; reason?: unknown };
          if (code === 4403) return push({ error: new ApiError('UNAUTHENTICATED', 'the server refused the token') });
          // Opened past the rate limit: its reason says when to try again.
          const wait = code === 4429 && typeof reason === 'string' ? /in (\d+) s/.exec(reason)?.[1] : undefined;
          push({ closed: describeDisconnect(err), ...(wait !== undefined ? { delayMs: Math.max(1, Number(wait)) * 1000 } : {}) });
        },
        complete: () => push({ closed: 'the server ended the subscription' }),
      },
    );
    // A round trip on the same connection: once it answers, the subscription is in place. A dispose completes
    // it too, so only an answer on a connection still in use says so.
    const listening = cursor;
    let answered = false;
    let inUse = true;
    client.subscribe(
      { query: '{ __typename }' },
      {
        next: () => (answered = true),
        error: () => {},
        complete: () => {
          if (answered && inUse) opts.onStatus?.({ kind: 'listening', after: listening });
        },
      },
    );
    let closed: string | null = null;
    let delayMs: number | undefined;
    try {
      while (closed === null) {
        const item = queue.shift();
        if (!item) {
          await new Promise<void>((r) => (wake = r));
          wake = null;
          continue;
        }
        if ('error' in item) throw item.error;
        if ('closed' in item) {
          closed = item.closed;
          delayMs = item.delayMs;
          break;
        }
        cursor = item.event.cursor;
        yield item.event;
      }
    } finally {
      inUse = false;
      opts.signal?.removeEventListener('abort', onAbort);
      unsubscribe();
      await client.dispose();
    }
    queue.length = 0;
    if (opts.signal?.aborted) return;
    backoff = Date.now() - started > 10_000 ? min : backoff;
    const wait = delayMs ?? (opts.jitter ? Math.round(backoff * (0.5 + Math.random())) : backoff);
    opts.onStatus?.({ kind: 'disconnected', reason: closed, retryInMs: wait });
    await sleep(wait, opts.signal);
    backoff = Math.min(backoff * 2, max);
  }
}
