/**
 * VirtplaneClient: queries and mutations over HTTP with a bearer token, subscriptions over graphql-ws
 * (`follow` reconnects with backoff and resumes after the last cursor it delivered), image uploads, and
 * console WebSockets.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ApiError, describeDisconnect, fromGraphQLError, type GraphQLErrorLike } from './errors.js';
import { followSubscription, type FollowOptions } from './follow.js';
import type { TadaDocumentNode } from './graphql.js';

export interface ClientOptions {
  /** The server: `http://127.0.0.1:4000` or its endpoint `http://127.0.0.1:4000/graphql`. */
  url: string;
  /** An API token (`vp_…`). */
  token: string;
  /** Extra HTTP headers on every request. */
  headers?: Record<string, string>;
  /**
   * A request refused with `RATE_LIMITED` (HTTP 429: nothing of it ran) is sent again after the server's
   * `Retry-After`, as long as the waits of one request add up to at most this many seconds; default 0: the
   * ApiError is thrown at once (its `details.retryAfterSeconds` says how long to wait).
   */
  rateLimitWaitSeconds?: number;
}

/** Variables of a document, optional when it has none. */
type VarsArg<V> = Record<string, never> extends V ? [variables?: V] : [variables: V];

export interface UploadProgress {
  sentBytes: number;
  totalBytes: number;
}

/** Normalised addresses of a server given as `http(s)://host[:port][/graphql]`. */
export function serverUrls(url: string): { base: string; http: string; ws: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ApiError('BAD_URL', `not a URL: ${url}`);
  }
  if (u.protocol === 'ws:' || u.protocol === 'wss:') u.protocol = u.protocol === 'ws:' ? 'http:' : 'https:';
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ApiError('BAD_URL', `not an http(s) URL: ${url}`);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/graphql$/, '');
  const base = `${u.origin}${path}`;
  return { base, http: `${base}/graphql`, ws: `${base.replace(/^http/, 'ws')}/graphql` };
}

interface GraphQLResponse {
  data?: Record<string, unknown> | null;
  errors?: GraphQLErrorLike[];
}

export class VirtplaneClient {
  readonly urls: { base: string; http: string; ws: string };
  readonly #token: string;
  readonly #headers: Record<string, string>;
  readonly #rateLimitWaitMs: number;

  constructor(opts: ClientOptions) {
    this.urls = serverUrls(opts.url);
    this.#token = opts.token;
    this.#headers = opts.headers ?? {};
    this.#rateLimitWaitMs = Math.max(0, opts.rateLimitWaitSeconds ?? 0) * 1000;
  }

  /** The token is never part of what this object prints. */
  toJSON() {
    return { url: this.urls.http };
  }

  async #post(body: string): Promise<GraphQLResponse> {
    for (let waited = 0; ;) {
      const { res, parsed } = await this.#postOnce(body);
      if (res.status !== 429) return parsed;
      const retryAfter = Math.max(1, Number(res.headers.get('retry-after')) || 1);
      if (waited + retryAfter * 1000 > this.#rateLimitWaitMs) {
        const error = parsed.errors?.[0];
        throw new ApiError('RATE_LIMITED', error?.message ?? 'rate limited', null, { retryAfterSeconds: retryAfter });
      }
      await new Promise((done) => setTimeout(done, retryAfter * 1000));
      waited += retryAfter * 1000;
    }
  }

  async #postOnce(body: string): Promise<{ res: Response; parsed: GraphQLResponse }> {
    let res: Response;
    try {
      res = await fetch(this.urls.http, {
        method: 'POST',
        headers: {
          ...this.#headers,
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${this.#token}`,
        },
        body,
      });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new ApiError('UNREACHABLE', `cannot reach ${this.urls.http}: ${cause ?? describeDisconnect(err)}`);
    }
    const text = await res.text();
    let parsed: GraphQLResponse;
    try {
      parsed = JSON.parse(text) as GraphQLResponse;
    } catch {
      throw new ApiError('HTTP_ERROR', `HTTP ${res.status} from ${this.urls.http}: ${text.slice(0, 200)}`);
    }
    if (!parsed || typeof parsed !== 'object') throw new ApiError('HTTP_ERROR', `HTTP ${res.status}: not a GraphQL answer`);
    return { res, parsed };
  }

  /**
   * Runs a query or mutation. Any GraphQL error in the answer is thrown as an ApiError (its `extensions.code`);
   * a mutation's typed errors are part of the data: see `outcome` and `unwrap`.
   */
  async request<R, V>(document: TadaDocumentNode<R, V>, ...[variables]: VarsArg<V>): Promise<R> {
    const res = await this.#post(JSON.stringify({ query: print(document), variables: variables ?? {} }));
    if (res.errors?.length) throw fromGraphQLError(res.errors[0]!);
    if (!res.data) throw new ApiError('NO_RESULT', 'the server answered no data');
    return res.data as R;
  }

  /** Like `request`, but answers the data beside the errors (root fields that failed are null). */
  async requestPartial<R, V>(
    document: TadaDocumentNode<R, V>,
    ...[variables]: VarsArg<V>
  ): Promise<{ data: R | null; errors: ApiError[] }> {
    const res = await this.#post(JSON.stringify({ query: print(document), variables: variables ?? {} }));
    return { data: (res.data ?? null) as R | null, errors: (res.errors ?? []).map(fromGraphQLError) };
  }

  /** A graphql-ws client for this server (one connection, no retries: `follow` does its own). */
  wsClient(): Client {
    return createClient({
      url: this.urls.ws,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
      connectionParams: { authorization: `Bearer ${this.#token}` },
    });
  }

  /**
   * Follows a subscription whose events carry a `cursor` and which takes `after` (domainEvents, networkEvents, hostEvents):
   * yields each event once, in order. When the connection drops (server restart, network, slow-consumer close)
   * it reconnects with backoff and resubscribes after the last cursor it yielded: the server replays what was
   * missed, so nothing is lost or repeated. A GraphQL error (e.g. CURSOR_EXPIRED, FORBIDDEN) or a refused token
   * (close 4403) ends the iteration with an ApiError.
   */
  follow<R, V extends { after?: string | null }, E extends { cursor: string }>(
    document: TadaDocumentNode<R, V>,
    variables: Omit<V, 'after'>,
    pick: (data: R) => E,
    opts: FollowOptions = {},
  ): AsyncGenerator<E, void, undefined> {
    return followSubscription(() => this.wsClient(), document, variables, pick, opts);
  }

  /**
   * PUTs a file to an upload URL from `createImageUpload` (relative to the server); `onProgress` is called as
   * bytes go out. Answers the server's JSON (`{ image }`); a refusal is an ApiError with the HTTP status.
   */
  async uploadFile(uploadUrl: string, path: string, onProgress?: (p: UploadProgress) => void): Promise<unknown> {
    const { size } = await stat(path);
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length;
        onProgress?.({ sentBytes: sent, totalBytes: size });
        cb(null, chunk);
      },
    });
    const body = Readable.toWeb(createReadStream(path).pipe(counter)) as ReadableStream<Uint8Array>;
    const url = new URL(uploadUrl, `${this.urls.base}/`).toString();
    // `duplex` (required by Node's fetch for a streamed body) is not in the DOM RequestInit type yet.
    const init: RequestInit & { duplex: 'half' } = {
      method: 'PUT',
      headers: {
        ...this.#headers,
        authorization: `Bearer ${this.#token}`,
        'content-length': String(size),
        'content-type': 'application/octet-stream',
      },
      body,
      duplex: 'half',
    };
    let res: Response;
    try {
      res = await fetch(url, init);
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new ApiError('UNREACHABLE', `upload to ${url} failed: ${cause ?? describeDisconnect(err)}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const err = (json as { error?: unknown; message?: unknown } | null) ?? {};
      const message = typeof err.error === 'string' ? err.error : typeof err.message === 'string' ? err.message : text.slice(0, 200);
      const code =
        { 400: 'VALIDATION', 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT', 413: 'PAYLOAD_TOO_LARGE' }[
          res.status
        ] ?? 'HTTP_ERROR';
      throw new ApiError(code, `upload refused (HTTP ${res.status}): ${message}`);
    }
    return json;
  }

  /** Opens a console WebSocket from a ticket's `websocketUrl` (binary frames both ways). */
  openConsole(websocketUrl: string): WebSocket {
    return new WebSocket(new URL(websocketUrl, this.urls.base.replace(/^http/, 'ws') + '/').toString());
  }
}
