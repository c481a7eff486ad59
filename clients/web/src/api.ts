/**
 * The web app's line to the API: queries and mutations over HTTP, lifecycle events over graphql-ws, both with
 * the tenant's token and typed by the SDK's documents (checked against schema.graphql).
 */
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { DomainEvents, HostEvents } from '../../sdk/src/documents.js';
import { ApiError } from '../../sdk/src/errors.js';
import { followSubscription } from '../../sdk/src/follow.js';
import type { ResultOf, TadaDocumentNode, VariablesOf } from '../../sdk/src/graphql.js';
import type { DomainEvent } from './types.js';

export type { DomainEvent };

/** The token was refused: sign in again. */
export class Unauthenticated extends Error {}

interface GraphQLError {
  message: string;
  extensions?: { code?: string };
}

type Document = TadaDocumentNode<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const RETRY_MIN_MS = 500;

const RETRY_MAX_MS = 10_000;

/** What a followed subscription tells its page. */
export interface Following<E> {
  event(e: E): void;
  /** In place on the server; `fresh`: nothing to resume from, so read everything afresh now. */
  live(fresh: boolean): void;
  away(): void;
  refused(): void;
}

export class Api {
  constructor(private readonly token: string) {}

  async request<D extends Document>(doc: D, variables?: VariablesOf<D>): Promise<ResultOf<D>> {
    const res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ query: print(doc), variables }),
    });
    const body = (await res.json()) as { data?: ResultOf<D>; errors?: GraphQLError[] };
    const error = body.errors?.[0];
    if (error?.extensions?.code === 'UNAUTHENTICATED') throw new Unauthenticated(error.message);
    if (error || !body.data) throw new Error(error?.message ?? `the server answered ${res.status}`);
    return body.data;
  }

  /**
   * Follows the viewer's domain events across disconnects (the SDK's followSubscription, on the browser's
   * WebSocket). `live` runs once the subscription is in place on the server: the first time (and when there is
   * no cursor to resume from) the caller reads its list afresh then and misses nothing; after a drop it resumes
   * after the last event it passed on.
   */
  followDomainEvents(on: Following<DomainEvent>): () => void {
    return this.follow(DomainEvents, (d) => d.domainEvents, on);
  }

  /** Follows the hosts' state changes (admins), as `followDomainEvents` does domain events. */
  followHostEvents(on: Following<ResultOf<typeof HostEvents>['hostEvents']>): () => void {
    return this.follow(HostEvents, (d) => d.hostEvents, on);
  }

  private follow<R, V extends { after?: string | null }, E extends { cursor: string }>(
    doc: TadaDocumentNode<R, V>,
    pick: (data: R) => E,
    on: Following<E>,
  ): () => void {
    const stop = new AbortController();
    const connect = () =>
      createClient({
        url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
        connectionParams: { authorization: `Bearer ${this.token}` },
        retryAttempts: 0,
        lazy: true,
      });
    void (async () => {
      while (!stop.signal.aborted) {
        try {
          const events = followSubscription(connect, doc, {} as Omit<V, 'after'>, pick, {
            signal: stop.signal,
            onStatus: (s) => (s.kind === 'listening' ? on.live(s.after === null) : on.away()),
            minBackoffMs: RETRY_MIN_MS,
            maxBackoffMs: RETRY_MAX_MS,
            jitter: true,
          });
          for await (const e of events) on.event(e);
        } catch (err) {
          if (stop.signal.aborted) return;
          // Refused at connect (4403) or by the operation: the token is no longer good.
          if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') return on.refused();
          // Not this viewer's to follow (host events are admins'): asking again would be refused again.
          if (err instanceof ApiError && err.code === 'FORBIDDEN') return on.away();
          // Any other refusal (e.g. a cursor older than the log keeps): start afresh, reading everything again.
          on.away();
          await new Promise((r) => setTimeout(r, RETRY_MIN_MS));
        }
      }
    })();
    return () => stop.abort();
  }
}
