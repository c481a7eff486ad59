/**
 * The web app's line to the API: queries and mutations over HTTP, lifecycle events over graphql-ws, both with
 * the tenant's token and typed by the SDK's documents (checked against schema.graphql).
 */
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { DomainEvents } from '../../sdk/src/documents.js';
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
const RETRY_SETTLED_MS = 10_000;

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
   * Follows the viewer's domain events across disconnects. `live` runs once the subscription is in place on
   * the server: the first time (and when there is no cursor to resume from) the caller reads its list afresh
   * then and misses nothing; after a drop it resumes after the last event it passed on.
   */
  followDomainEvents(on: {
    event(e: DomainEvent): void;
    /** In place on the server; `fresh`: nothing to resume from, so read everything afresh now. */
    live(fresh: boolean): void;
    away(): void;
    refused(): void;
  }): () => void {
    let stopped = false;
    let cursor: string | null = null;
    let client: Client | null = null;
    let delayMs = RETRY_MIN_MS;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const connect = () => {
      if (stopped) return;
      const attempt = createClient({
        url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
        connectionParams: { authorization: `Bearer ${this.token}` },
        retryAttempts: 0,
        lazy: true,
      });
      client = attempt;
      const fresh = cursor === null;
      let done = false;
      let settled: ReturnType<typeof setTimeout> | undefined;
      const again = (why: 'away' | 'refused') => {
        if (done) return;
        done = true;
        clearTimeout(settled);
        void attempt.dispose();
        if (stopped) return;
        if (why === 'refused') return on.refused();
        on.away();
        // With jitter, so the tabs of every user do not come back in the same instant after a restart.
        retry = setTimeout(connect, delayMs * (0.5 + Math.random()));
        delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
      };
      const fail = (err: unknown) => {
        const errors = Array.isArray(err) ? (err as GraphQLError[]) : [];
        const code = errors[0]?.extensions?.code;
        const closeCode = (err as { code?: unknown } | null)?.code;
        // Refused at connect (4403), revoked or expired while connected (4401), or refused by the operation.
        if (code === 'UNAUTHENTICATED' || closeCode === 4401 || closeCode === 4403) again('refused');
        else {
          if (code === 'CURSOR_EXPIRED') cursor = null; // older than the log keeps: read everything afresh
          again('away');
        }
      };
      attempt.subscribe<ResultOf<typeof DomainEvents>>(
        { query: print(DomainEvents), variables: { after: cursor } },
        {
          next: (r) => {
            const e = r.data?.domainEvents;
            if (!e || done) return;
            cursor = e.cursor;
            on.event(e);
          },
          error: fail,
          complete: () => again('away'),
        },
      );
      // Operations on one socket are taken in order: once this query has answered, the subscription is in place.
      let answered = false;
      attempt.subscribe(
        { query: '{ __typename }' },
        {
          next: () => (answered = true),
          error: fail,
          // A dispose completes it too: only an answer on a connection still in use means live.
          complete: () => {
            if (!answered || done || stopped) return;
            on.live(fresh);
            // Connected for a while: the next drop starts again from a short wait.
            settled = setTimeout(() => (delayMs = RETRY_MIN_MS), RETRY_SETTLED_MS);
          },
        },
      );
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      void client?.dispose();
    };
  }
}
