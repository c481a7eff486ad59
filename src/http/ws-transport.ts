import type { IncomingMessage } from 'node:http';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';

/** WebSocket close code for a subscriber that fell too far behind (private range; graphql-ws uses 44xx). */
export const SLOW_CONSUMER_CLOSE_CODE = 4008;

export interface WsTransportOptions {
  /** Every this often each socket is pinged; one that has not answered the previous ping is dropped. */
  keepAliveMs: number;
  /** Bytes that may wait unsent on one socket before its client counts as a slow consumer and is closed. */
  maxBufferedBytes: number;
}

export type WsExtra = { socket: WebSocket; request: IncomingMessage };

/**
 * graphql-ws on a `ws` server, tuned for fan-out to many subscribers (instead of graphql-ws' `useServer`):
 * - `send` never waits for the kernel: a frame is queued and the call returns, so one slow client cannot hold
 *   up the execution loop; instead a socket whose unsent bytes exceed `maxBufferedBytes` is closed with
 *   SLOW_CONSUMER_CLOSE_CODE and a reason saying how to resume.
 * - every socket is corked while a burst of frames is produced and uncorked once per loop turn, so frames
 *   for one client leave in one write instead of one system call each.
 * - one keep-alive timer for all sockets (ping; terminate what did not pong since the last ping).
 */
export function serveGraphqlWs<E extends Record<PropertyKey, unknown>>(
  options: ServerOptions<Record<string, unknown> | undefined, E & WsExtra>,
  wss: WebSocketServer,
  opts: WsTransportOptions,
): { dispose(graceMs?: number): Promise<void> } {
  const server = makeServer(options);
  wss.options.handleProtocols = handleProtocols;

  const corked = new Set<WebSocket>();
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    for (const s of corked) (s as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
    corked.clear();
  };

  const alive = new WeakMap<WebSocket, boolean>();
  const keepAlive = setInterval(() => {
    for (const s of wss.clients) {
      if (alive.get(s) === false) {
        s.terminate();
        continue;
      }
      alive.set(s, false);
      s.ping();
    }
  }, opts.keepAliveMs);
  keepAlive.unref();

  wss.on('connection', (socket, request) => {
    alive.set(socket, true);
    socket.on('pong', () => alive.set(socket, true));
    socket.once('error', () => socket.terminate());
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => {
          if (socket.readyState !== socket.OPEN) return;
          if (socket.bufferedAmount > opts.maxBufferedBytes) {
            socket.close(SLOW_CONSUMER_CLOSE_CODE, 'slow consumer: too many unsent events; reconnect and resume from your last cursor');
            return;
          }
          if (!corked.has(socket)) {
            (socket as unknown as { _socket?: { cork(): void } })._socket?.cork();
            corked.add(socket);
            if (!flushScheduled) {
              flushScheduled = true;
              setImmediate(flush);
            }
          }
          socket.send(data);
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', (data) => {
            // A socket being closed (the server stopping, a revoked token) runs nothing more it sends.
            if (socket.readyState !== socket.OPEN) return;
            // A Buffer: the socket keeps ws's default binaryType ('nodebuffer').
            cb((data as Buffer).toString()).catch(() => socket.close(CloseCode.InternalServerError, 'Internal server error'));
          }),
      },
      { socket, request } as E & WsExtra,
    );
    socket.once('close', (code, reason) => {
      if (corked.delete(socket)) (socket as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
      void closed(code, String(reason));
    });
  });

  return {
    /** Closes every socket (1001); one whose peer has not answered the close frame within `graceMs` is cut off. */
    async dispose(graceMs = 1000) {
      clearInterval(keepAlive);
      for (const s of wss.clients) s.close(1001, 'Going away');
      wss.removeAllListeners('connection');
      const timer = setTimeout(() => {
        for (const s of wss.clients) s.terminate();
      }, graceMs);
      try {
        await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())));
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
