// The serial console page: xterm.js over the ticket's WebSocket, which carries the raw serial byte stream.
import { Terminal } from '/console/assets/xterm/lib/xterm.mjs';

const params = new URLSearchParams(location.search);
// The ticket is used once; keep it out of the address bar and the history.
history.replaceState(null, '', location.pathname);
const status = document.getElementById('status');
const term = new Terminal({ scrollback: 10000 });
term.open(document.getElementById('terminal'));
term.focus();
const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/console/ws?${params}`);
socket.binaryType = 'arraybuffer';
const encoder = new TextEncoder();
socket.addEventListener('open', () => {
  status.textContent = 'connected';
  status.className = 'connected';
});
socket.addEventListener('message', (e) => term.write(new Uint8Array(e.data)));
term.onData((keys) => {
  if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(keys));
});
socket.addEventListener('close', (e) => {
  status.textContent = `closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`;
  status.className = 'closed';
});
