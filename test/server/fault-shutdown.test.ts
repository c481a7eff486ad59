import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
let stubborn: Socket | undefined;
let stopped = false;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  stubborn?.destroy();
  if (!stopped) await s?.stop();
  else rmSync(s.dataDir, { recursive: true, force: true });
});

/** A WebSocket peer that completes the upgrade and then never answers anything, not even a close frame. */
async function stubbornPeer(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    [
      'GET /graphql HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Protocol: graphql-transport-ws',
      '',
      '',
    ].join('\r\n'),
  );
  const [head] = (await once(socket, 'data')) as [Buffer];
  assert.match(head.toString(), /^HTTP\/1\.1 101/, 'the upgrade was accepted');
  socket.on('data', () => {}); // read and ignore: the close frame is never answered
  return socket;
}

/** Resolves with how a new TCP connection to the port went. */
function tryConnect(port: number): Promise<'accepted' | 'refused'> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve('accepted');
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'accepted'));
  });
}

test('on stop, new connections are refused at once, while a peer that never answers the close handshake is still open; then it is cut off', async () => {
  const port = Number(new URL(s.url).port);
  stubborn = await stubbornPeer(port);
  const order: string[] = [];
  const stubbornClosed = once(stubborn, 'close').then(() => order.push('stubborn peer cut off'));

  const stopping = s.app.stop();
  stopped = true;
  order.push(`new connection ${await tryConnect(port)}`);
  await stopping;
  await stubbornClosed;
  assert.deepEqual(order, ['new connection refused', 'stubborn peer cut off'], 'the listener closed first, the stubborn socket last');
});
