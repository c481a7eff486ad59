/**
 * The least a serial console WebSocket proxy can be, for comparison with virtplane's: one connection to a
 * guest's serial unix socket (argv[2]), a `ws` server on 127.0.0.1 (no compression), bytes passed through both
 * ways, nothing else. Prints `{"port": …}` once it listens; exits on SIGTERM. Started by bench/console.ts.
 */
import { connect } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

const guest = connect(process.argv[2]!);
await new Promise((resolve, reject) => guest.once('connect', resolve).once('error', reject));
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
await new Promise((resolve) => wss.once('listening', resolve));
let viewer: WebSocket | null = null;
guest.on('data', (d: Buffer) => viewer?.send(d));
wss.on('connection', (ws) => {
  viewer = ws;
  ws.on('message', (m: Buffer) => guest.write(m));
});
process.on('SIGTERM', () => {
  guest.destroy();
  process.exit(0);
});
process.stdout.write(JSON.stringify({ port: (wss.address() as { port: number }).port }) + '\n');
