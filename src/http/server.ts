import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { GraphQLError, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type GraphiQLOptions, type YogaInitialContext } from 'graphql-yoga';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_HTTP_POLICY, type HttpPolicy, type QueryLimits } from '../config.js';
import type { ConsoleRoutes } from './console.js';
import type { WebAppRoutes } from './web-app.js';
import type { Context } from '../graphql/context.js';
import { admitBody, admitRate, corsHeaders, EXPOSED_HEADERS } from './guard.js';
import type { MetricsRoute } from './metrics.js';
import { useSharedSubscriptionExecution } from '../graphql/shared-execution.js';
import { bearerToken, type Viewer } from '../services/access/index.js';
import { SlowSubscriberError, StreamError } from '../services/events/index.js';
import type { Services } from '../services/registry.js';
import { handleUpload, isUploadRequest } from './upload-route.js';
import { serveGraphqlWs, SLOW_CONSUMER_CLOSE_CODE } from './ws-transport.js';
import { armorPlugins, maskError, unauthenticated, withCode } from './errors.js';

export interface HttpServerOptions {
  schema: GraphQLSchema;
  services: Services;
  log: Logger;
  graphiql: boolean;
  limits: QueryLimits;
  /** Unsent bytes one WebSocket may hold before its client is disconnected as a slow consumer. */
  maxBufferedBytes?: number;
  /** Body size and cross-origin policy (default DEFAULT_HTTP_POLICY). */
  http?: HttpPolicy;
  /** Console pages, assets and WebSockets (http/console.ts), beside the API. */
  console?: ConsoleRoutes;
  /** The web app (http/web-app.ts) under /app/; / leads there. */
  webApp?: WebAppRoutes;
  /** `GET /metrics` for Prometheus (http/metrics.ts). */
  metrics?: MetricsRoute;
}

/** The address could not be listened on (taken, or not this host's). */
export class ListenError extends Error {
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const why =
      cause.code === 'EADDRINUSE'
        ? 'the address is already in use'
        : cause.code === 'EADDRNOTAVAIL'
          ? 'no such address on this host'
          : cause.message;
    super(`cannot listen on ${host}:${port}: ${why} (${cause.code ?? 'error'}); set HOST or PORT`, { cause });
    this.name = 'ListenError';
  }
}

export interface RunningServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

type WsContextExtra = { viewer?: Viewer };

/** Close code for a WebSocket whose API token was revoked or expired (graphql-ws' Unauthorized). */
export const WS_TOKEN_REVOKED = 4401;
/** A WebSocket opened past its tenant's rate limit (the reason says when to try again). */
export const WS_RATE_LIMITED = 4429;

/** Every socket is pinged this often; one that did not answer the previous ping is dropped. */
const KEEP_ALIVE_MS = 12_000;
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** On stop: how long requests in flight may take to finish, and WebSocket peers to answer the close frame. */
const DRAIN_MS = 5_000;
const WS_CLOSE_GRACE_MS = 1_000;

/**
 * Wires yoga (HTTP) and graphql-ws (WebSocket) onto one HTTP server. Both transports run through
 * yoga's envelope, so parsing, validation, limits and context are shared.
 */
export function startHttpServer(opts: HttpServerOptions, host: string, port: number): Promise<RunningServer> {
  const { services, log } = opts;
  // Yoga's own GraphiQL page loads its code from a CDN, which most hypervisors cannot reach. This one carries
  // GraphiQL's code (~9 MB, built once) in the page itself.
  let graphiqlPage: string | undefined;
  const servedGraphiQL = (options: GraphiQLOptions) => (graphiqlPage ??= renderGraphiQL({ ...options, title: 'virtplane' }));
  const policy = opts.http ?? DEFAULT_HTTP_POLICY;

  const yoga = createYoga<{ viewer?: Viewer; connectionParams?: Record<string, unknown> }, Context>({
    schema: opts.schema,
    graphiql: opts.graphiql,
    renderGraphiQL: servedGraphiQL,
    logging: false,
    landingPage: false,
    // Cross-origin access only for the configured origins (yoga's default would echo any Origin).
    cors: policy.corsOrigins.length
      ? {
          origin: policy.corsOrigins,
          credentials: false,
          allowedHeaders: ['authorization', 'content-type'],
          methods: ['GET', 'POST'],
          exposedHeaders: EXPOSED_HEADERS,
        }
      : false,
    maskedErrors: { maskError: maskError(log, services.storage) },
    // Bodies reach yoga only through `admitBody` (a Content-Length within `maxBodyBytes` is required, and Node's
    // parser never hands on more than it says): yoga's own limit, which pipes every body through a counting
    // TransformStream, would only repeat that check, at a cost on every request.
    maxRequestBodySize: false,
    plugins: [
      // Over HTTP the token is checked before the document is even parsed: an anonymous caller learns nothing
      // of the schema from validation errors and costs no parsing. (WebSocket callers were checked at connect.)
      {
        onParams: ({ request, context }: { request: Request; context: { viewer?: Viewer } }) => {
          context.viewer ??= services.auth.authenticate(bearerToken(request.headers.get('authorization'))) ?? undefined;
          if (!context.viewer) throw unauthenticated();
        },
      },
      ...armorPlugins(opts.limits),
      useSharedSubscriptionExecution(),
    ],
    context: (initial: YogaInitialContext & { viewer?: Viewer }): Context => {
      if (!initial.viewer) throw unauthenticated();
      return { viewer: initial.viewer, services };
    },
  });

  // Once stopping, requests still arriving on open connections are refused (503) and upgrades too; requests
  // in flight are counted so stop can let them finish (within DRAIN_MS).
  let stopping = false;
  const inFlight = new Set<ServerResponse>();
  let drained: (() => void) | null = null;
  const handleRequest = async (req: IncomingMessage, res: ServerResponse) => {
    if (stopping) {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ status: 'stopping' }));
      return;
    }
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (inFlight.size === 0) drained?.();
    });
    if (isUploadRequest(req)) return handleUpload(req, res, services, log);
    if (req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      const libvirt = await services.hosts.healthy();
      const storage = services.storage.reason();
      const body = !libvirt
        ? { status: 'libvirt unavailable' }
        : storage
          ? { status: 'storage failing', reason: storage }
          : { status: 'ok' };
      res.writeHead(libvirt && !storage ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return;
    }
    if (opts.metrics && (await opts.metrics.handle(req, res))) return;
    if (opts.console?.handle(req, res)) return;
    if (opts.webApp?.handle(req, res)) return;
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') {
      // A query sent by GET counts against the caller's rate limit as a POST does (the GraphiQL page, without a token, does not).
      const caller = req.method === 'GET' ? services.auth.authenticate(bearerToken(req.headers.authorization)) : null;
      if (caller && !(await admitRate(res, services.rateLimits, caller, corsHeaders(req, policy)))) return;
      return yoga.handle(req, res, { viewer: caller ?? undefined });
    }
    // A request with a body is judged by its headers before yoga reads any of it (yoga's onParams runs after).
    const viewer = services.auth.authenticate(bearerToken(req.headers.authorization)) ?? undefined;
    if (!admitBody(req, res, policy, viewer !== undefined)) return;
    if (!(await admitRate(res, services.rateLimits, viewer!, corsHeaders(req, policy)))) return;
    return yoga.handle(req, res, { viewer });
  };
  const server = createServer((req, res) => void handleRequest(req, res));

  // An upload answers `Expect: 100-continue` only once it has authenticated the caller and claimed the upload.
  server.on('checkContinue', (req, res) => {
    if (!isUploadRequest(req)) res.writeContinue();
    server.emit('request', req, res);
  });
  // Node ends any request not received whole within 5 minutes; an ISO upload may take longer. Uploads drop
  // idle connections themselves; headers must still arrive within headersTimeout.
  server.requestTimeout = 0;

  // Two WebSocket endpoints on one server: graphql-ws on the API path, consoles on theirs; anything else is
  // refused, and so is every upgrade once stopping.
  const wss = new WebSocketServer({ noServer: true, path: yoga.graphqlEndpoint, maxPayload: policy.maxBodyBytes });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (stopping) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    } else if (wss.shouldHandle(req)) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } else if (!opts.console?.upgrade(req, socket, head)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
  // Open sockets per API token, so that revoking a token closes its connections at once.
  const socketsByToken = new Map<string, Set<WebSocket>>();
  const onRevoked = (tokenIds: string[]) => {
    for (const id of tokenIds)
      for (const socket of socketsByToken.get(id) ?? []) socket.close(WS_TOKEN_REVOKED, 'API token revoked or expired');
  };
  services.users.on('revoked', onRevoked);
  const wsServer = serveGraphqlWs<WsContextExtra>(
    {
      connectionInitWaitTimeout: 10_000,
      onConnect: async (ctx) => {
        const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const token = typeof raw === 'string' ? (bearerToken(raw) ?? raw) : null;
        const viewer = services.auth.authenticate(token);
        if (!viewer) return false; // graphql-ws closes with 4403 Forbidden
        const socket = (ctx.extra as unknown as { socket: WebSocket }).socket;
        // A connection is a request too: past the limit it is closed with its own code (4403 would say "bad token").
        const rate = await services.rateLimits.take(viewer);
        if (rate && !rate.allowed) {
          socket.close(WS_RATE_LIMITED, rate.refusal);
          return false;
        }
        ctx.extra.viewer = viewer;
        const open = socketsByToken.get(viewer.tokenId) ?? new Set();
        open.add(socket);
        socketsByToken.set(viewer.tokenId, open);
        socket.once('close', () => {
          open.delete(socket);
          if (open.size === 0 && socketsByToken.get(viewer.tokenId) === open) socketsByToken.delete(viewer.tokenId);
        });
        return true;
      },
      onError: (ctx, _id, _payload, errors) => {
        // A stream that ended on purpose (slow consumer, expired cursor) keeps its code; a slow consumer's
        // whole connection is closed with a reason saying how to resume.
        const streamError = errors.map((e) => e.originalError).find((e) => e instanceof StreamError);
        if (!streamError) return;
        if (streamError instanceof SlowSubscriberError) {
          const socket = (ctx.extra as { socket: { close(code: number, reason: string): void } }).socket;
          setImmediate(() =>
            socket.close(
              SLOW_CONSUMER_CLOSE_CODE,
              `slow consumer: more than ${streamError.limit} events behind; resume from your last cursor`,
            ),
          );
        }
        return [{ message: streamError.message, extensions: { code: streamError.code } }];
      },
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const extra = ctx.extra as WsContextExtra & { request: unknown; socket: unknown };
        if (!extra.viewer || !services.auth.isTokenActive(extra.viewer.tokenId)) return [unauthenticated()];
        const rate = await services.rateLimits.take(extra.viewer);
        if (rate && !rate.allowed)
          return [new GraphQLError(rate.refusal, { extensions: { code: 'RATE_LIMITED', retryAfterSeconds: rate.resetSeconds } })];
        const enveloped = yoga.getEnveloped({
          ...ctx,
          req: extra.request,
          socket: extra.socket,
          params,
          viewer: extra.viewer,
        });
        // envelop types these as `any`: they are graphql-js's own (wrapped by the plugins).
        const { execute, subscribe, contextFactory, parse, validate } = enveloped;
        const schema = enveloped.schema as GraphQLSchema;
        let document: DocumentNode;
        try {
          document = parse(params.query) as DocumentNode;
        } catch (err) {
          return [withCode(err instanceof GraphQLError ? err : new GraphQLError(String(err)), 'GRAPHQL_PARSE_FAILED')];
        }
        const errors = validate(schema, document) as readonly GraphQLError[];
        if (errors.length) return errors.map((e: GraphQLError) => withCode(e, 'GRAPHQL_VALIDATION_FAILED'));
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        return args;
      },
    },
    wss,
    { keepAliveMs: KEEP_ALIVE_MS, maxBufferedBytes: opts.maxBufferedBytes ?? MAX_BUFFERED_BYTES },
  );

  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      services.users.off('revoked', onRevoked);
      void wsServer.dispose().finally(() => reject(new ListenError(host, port, err)));
    });
    server.listen(port, host, () => {
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        server,
        url: `http://${shownHost}:${address.port}${yoga.graphqlEndpoint}`,
        close: async () => {
          // Stop accepting first: the listener closes now (new connections are refused), idle keep-alive
          // connections go, and what still arrives on a busy one is answered 503.
          stopping = true;
          const closed = new Promise<void>((r) => server.close(() => r()));
          server.closeIdleConnections();
          services.users.off('revoked', onRevoked);
          opts.console?.close();
          // Then the requests in flight finish, within a bound; an event stream (SSE) never would: it ends now.
          for (const res of inFlight) if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) res.destroy();
          if (inFlight.size) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, DRAIN_MS);
              drained = () => {
                clearTimeout(timer);
                resolve();
              };
            });
          }
          // Then the WebSockets: a close frame each, and a peer that does not answer it is cut off soon after.
          await wsServer.dispose(WS_CLOSE_GRACE_MS);
          server.closeAllConnections();
          await closed;
        },
      });
    });
  });
}
