import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { localId } from '../graphql/ids.js';
import { CONSOLE_PAGE_PATH, CONSOLE_WS_PATH, REFUSAL, type ConsoleLink, type ConsoleService } from '../services/console/index.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
/** Viewer → guest messages are keys and RFB client messages; a pasted clipboard is the largest. */
const MAX_INPUT_FRAME = 1024 * 1024;
/** A proxy between browser and server may drop a quiet connection; a ping keeps it alive. */
const PING_MS = 25_000;

const require = createRequire(import.meta.url);
const packageDir = (name: string, entry: string) => {
  let dir = dirname(require.resolve(name));
  while (!dir.endsWith(entry) && dir !== dirname(dir)) dir = dirname(dir);
  return dir;
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/**
 * The only files the console pages may load, by URL: noVNC's ES modules, xterm.js' module and stylesheet, and
 * the pages' own scripts. Built once from the installed packages (no CDN); nothing outside it is served.
 */
function assetTable(): Map<string, string> {
  const table = new Map<string, string>();
  const add = (urlDir: string, root: string, files: string[]) => {
    for (const f of files) if (TYPES[extname(f)]) table.set(`${urlDir}/${relative(root, f).split(sep).join('/')}`, f);
  };
  const novnc = packageDir('@novnc/novnc', `${sep}novnc`);
  add('/console/assets/novnc', novnc, [...filesUnder(join(novnc, 'core')), ...filesUnder(join(novnc, 'vendor'))]);
  const xterm = packageDir('@xterm/xterm', `${sep}xterm`);
  add('/console/assets/xterm', xterm, [join(xterm, 'lib', 'xterm.mjs'), join(xterm, 'css', 'xterm.css')]);
  const own = fileURLToPath(new URL('../../web/console/', import.meta.url));
  add('/console/assets', own, filesUnder(own));
  return table;
}

const page = (kind: 'graphics' | 'serial') => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${kind === 'graphics' ? 'Graphical' : 'Serial'} console · virtplane</title>
<link rel="stylesheet" href="/console/assets/console.css">
${kind === 'serial' ? '<link rel="stylesheet" href="/console/assets/xterm/css/xterm.css">' : ''}
<script type="module" src="/console/assets/${kind}.js"></script>
</head>
<body>
<div id="status">connecting…</div>
<div id="${kind === 'graphics' ? 'screen' : 'terminal'}"></div>
</body>
</html>
`;

/**
 * Pages and their assets: nothing inline, nothing from elsewhere. The URL holds a ticket: no Referer leaves
 * the page and nothing is cached. Framing is allowed on purpose, so a billing panel can embed a console.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

const toBuffer = (data: RawData): Buffer => (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));

/**
 * The console routes, thin over ConsoleService: `GET /console/graphics|serial?domain&kind&ticket` (the page;
 * it checks the ticket without using it), `/console/assets/…` (the allow-list above) and the WebSocket
 * `/console/ws?domain&kind&ticket`, which redeems the ticket. Query strings are never logged: they hold tickets.
 */
export class ConsoleRoutes {
  private readonly assets = assetTable();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INPUT_FRAME, perMessageDeflate: false });
  private readonly pinger: NodeJS.Timeout;

  constructor(private readonly console: ConsoleService) {
    this.pinger = setInterval(() => {
      for (const ws of this.wss.clients) ws.ping();
    }, PING_MS);
    this.pinger.unref();
  }

  /** Answers a console page or asset request; false when the path is not ours. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith(`${CONSOLE_PAGE_PATH}/`)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    const asset = this.assets.get(url.pathname);
    if (asset) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES[extname(asset)]!, 'cache-control': 'public, max-age=3600' });
      res.end(req.method === 'HEAD' ? undefined : readFileSync(asset));
      return true;
    }
    const kind =
      url.pathname === `${CONSOLE_PAGE_PATH}/graphics` ? 'GRAPHICS' : url.pathname === `${CONSOLE_PAGE_PATH}/serial` ? 'SERIAL' : null;
    if (!kind) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return true;
    }
    const q = url.searchParams;
    const checked = this.console.tickets.check(q.get('ticket'), localId(q.get('domain') ?? '', 'Domain'), q.get('kind') ?? '');
    if (!checked.ok || checked.grant.kind !== kind) {
      const { code, reason } = REFUSAL[checked.ok ? 'MISMATCH' : checked.refusal];
      res.writeHead(code === 4410 ? 410 : 403, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end(`${reason}\n`);
      return true;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : page(kind === 'GRAPHICS' ? 'graphics' : 'serial'));
    return true;
  }

  /** Takes a WebSocket upgrade on the console path; false when the path is not ours. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== CONSOLE_WS_PATH) return false;
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.serve(ws, url.searchParams));
    return true;
  }

  /**
   * Redeems the ticket and joins the socket to the console. A refusal is a close frame with the code and
   * reason (REFUSAL): browsers see a failed upgrade's HTTP status as nothing but "error", a close reason they can show.
   */
  private async serve(ws: WebSocket, q: URLSearchParams): Promise<void> {
    let link: ConsoleLink | null = null;
    let gone = false;
    const early: Buffer[] = [];
    ws.on('message', (data) => {
      const bytes = toBuffer(data);
      if (link) link.input(bytes);
      else if (early.length < 64) early.push(bytes);
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      gone = true;
      link?.closed();
    });
    const domainId = q.get('domain') ?? '';
    const kind = q.get('kind') ?? '';
    if (!domainId || !kind || !q.get('ticket')) {
      ws.close(REFUSAL.MISSING.code, REFUSAL.MISSING.reason);
      return;
    }
    const opened = await this.console
      .open(
        { ticket: q.get('ticket'), domainUuid: localId(domainId, 'Domain'), kind, auditTarget: domainId },
        {
          send: (data, sent) => {
            if (ws.readyState === ws.OPEN) ws.send(data, { binary: true }, () => sent());
          },
          buffered: () => ws.bufferedAmount,
          close: (code, reason) => ws.close(code, reason),
        },
      )
      .catch(() => ({ ok: false as const, code: REFUSAL.UNAVAILABLE.code, reason: REFUSAL.UNAVAILABLE.reason }));
    if (!opened.ok) {
      ws.close(opened.code, opened.reason);
      return;
    }
    link = opened.link;
    if (gone) {
      link.closed();
      return;
    }
    for (const bytes of early.splice(0)) link.input(bytes);
  }

  close(): void {
    clearInterval(this.pinger);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
