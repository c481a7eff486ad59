import { connect, type Socket } from 'node:net';
import type { GqlResponse } from './server.js';

/** Reads one HTTP/1.1 response with a Content-Length body (what the server sends for a GraphQL POST). */
function readResponse(socket: Socket, what: string): Promise<GqlResponse> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const fail = (why: string) => {
      cleanup();
      reject(new Error(`${what}: ${why} (received ${JSON.stringify(buf.toString().slice(0, 300))})`));
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString();
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) return fail('a response without Content-Length');
      const body = buf.subarray(end + 4);
      if (body.length < Number(length[1])) return;
      cleanup();
      resolve({ ...(JSON.parse(body.subarray(0, Number(length[1])).toString()) as GqlResponse), status: Number(head.split(' ')[1]) });
    };
    const onClose = () => fail('the connection closed before the response was complete');
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}

function request(url: URL, token: string, body: string): string {
  return (
    `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/**
 * POSTs every operation at the same instant, to make a race certain rather than likely: one keep-alive
 * connection per operation is opened and used once first (so the server has accepted it and waits on it),
 * then all the requests are written in one synchronous run. The server of a test runs in this process, so
 * it can read none of them before all are in its sockets, and it reads them all in one turn of its event
 * loop: each runs up to its first wait for I/O before any reply to such a wait can arrive.
 */
export async function postAtOnce(
  serverUrl: string,
  token: string,
  operations: { query: string; variables?: Record<string, unknown> }[],
): Promise<GqlResponse[]> {
  const url = new URL(serverUrl);
  const sockets = await Promise.all(
    operations.map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(Number(url.port), url.hostname, () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  try {
    await Promise.all(
      sockets.map((s, i) => {
        const answer = readResponse(s, `warm-up request ${i}`);
        s.write(request(url, token, JSON.stringify({ query: '{ __typename }' })));
        return answer;
      }),
    );
    const answers = sockets.map((s, i) => readResponse(s, `operation ${i}`));
    for (const [i, s] of sockets.entries()) s.write(request(url, token, JSON.stringify(operations[i])));
    return await Promise.all(answers);
  } finally {
    for (const s of sockets) s.destroy();
  }
}
