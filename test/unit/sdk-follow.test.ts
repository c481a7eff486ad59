import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client, Sink } from 'graphql-ws';
import { DomainEvents } from '../../clients/sdk/src/documents.js';
import { followSubscription, type FollowStatus } from '../../clients/sdk/src/follow.js';

/**
 * A stand-in for graphql-ws connections (a pure unit test of the follow loop): the n-th connection answers its
 * subscription with `answers[n]`; the `{ __typename }` round trip is always answered.
 */
function connections(answers: ((sink: Sink) => void)[]) {
  let n = 0;
  const connect = () => {
    const answer = answers[n++] ?? (() => {});
    return {
      subscribe(payload: { query: string }, sink: Sink) {
        setImmediate(() => {
          if (payload.query.includes('__typename')) {
            sink.next({ data: { __typename: 'Subscription' } });
            sink.complete();
          } else answer(sink);
        });
        return () => {};
      },
      dispose: async () => {},
    } as unknown as Client;
  };
  return { connect, count: () => n };
}

const event = (cursor: string) => ({ data: { domainEvents: { cursor } } });

test('a subscription refused by the rate limit is made again after the wait the server gave, not given up', async () => {
  const { connect, count } = connections([
    (sink) => sink.error([{ message: 'more than 5 requests in a minute', extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 1 } }]),
    (sink) => sink.next(event('c1')),
  ]);
  const statuses: FollowStatus[] = [];
  const started = Date.now();
  const follow = followSubscription(connect, DomainEvents, {}, (d: any) => d.domainEvents, { onStatus: (s) => statuses.push(s) });
  const first = await follow.next();
  assert.deepEqual(first.value, { cursor: 'c1' });
  assert.ok(Date.now() - started >= 1000, 'it waited the second it was told');
  assert.equal(count(), 2);
  assert.deepEqual(statuses[0], { kind: 'disconnected', reason: 'more than 5 requests in a minute', retryInMs: 1000 });
  await follow.return();
});

test('any other refusal still ends the iteration with its error', async () => {
  const { connect } = connections([(sink) => sink.error([{ message: 'cursor too old', extensions: { code: 'CURSOR_EXPIRED' } }])]);
  const follow = followSubscription(connect, DomainEvents, {}, (d: any) => d.domainEvents);
  await assert.rejects(follow.next(), (err: Error & { code?: string }) => err.code === 'CURSOR_EXPIRED');
});

test('a connection closed as rate limited waits at least a second, even when told 0 s: no reconnect storm', async () => {
  const { connect, count } = connections([
    (sink) => sink.error({ code: 4429, reason: 'rate limited: try again in 0 s' }),
    (sink) => sink.next(event('c1')),
  ]);
  const statuses: FollowStatus[] = [];
  const follow = followSubscription(connect, DomainEvents, {}, (d: any) => d.domainEvents, { onStatus: (s) => statuses.push(s) });
  assert.deepEqual((await follow.next()).value, { cursor: 'c1' });
  assert.equal(count(), 2);
  assert.equal(statuses[0]?.kind === 'disconnected' && statuses[0].retryInMs, 1000);
  await follow.return();
});
