// The graphical console page: noVNC over the ticket's WebSocket, which carries the raw RFB stream.
import RFB from '/console/assets/novnc/core/rfb.js';

const params = new URLSearchParams(location.search);
// The ticket is used once; keep it out of the address bar and the history.
history.replaceState(null, '', location.pathname);
const status = document.getElementById('status');
const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/console/ws?${params}`);
socket.binaryType = 'arraybuffer';
// The close code and reason say why a console ended or was refused (README: "Consoles in the browser").
socket.addEventListener('close', (e) => {
  status.textContent = `closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`;
  status.className = 'closed';
});
const rfb = new RFB(document.getElementById('screen'), socket);
rfb.scaleViewport = true;
rfb.addEventListener('connect', () => {
  status.textContent = 'connected';
  status.className = 'connected';
});
