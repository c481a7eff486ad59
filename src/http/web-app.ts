import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Logger } from 'pino';

/** Where the web app is served. */
export const WEB_APP_PATH = '/app';
const SOURCE = fileURLToPath(new URL('../../clients/web/src/', import.meta.url));

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>virtplane</title>
<link rel="stylesheet" href="${WEB_APP_PATH}/app.css">
<script type="module" src="${WEB_APP_PATH}/app.js"></script>
</head>
<body>
<div id="app"></div>
</body>
</html>
`;

/** Only this origin, for scripts, styles and the API (its WebSocket included); the token never leaves in a Referer. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  // Asked again each time, answered 304 while unchanged (ETag).
  'cache-control': 'no-cache',
};

interface Bundle {
  js: string;
  etag: string;
}

/**
 * The web app (clients/web): its page, and its script bundled by esbuild from the TypeScript sources on the
 * first request (the server runs from sources too; no build step to forget), kept in memory after.
 */
export class WebAppRoutes {
  private bundle: Promise<Bundle> | null = null;
  private readonly css = readFileSync(`${SOURCE}app.css`, 'utf8');

  constructor(private readonly log: Logger) {}

  private script(): Promise<Bundle> {
    this.bundle ??= build({
      entryPoints: [`${SOURCE}main.tsx`],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      minify: true,
      jsx: 'automatic',
      jsxImportSource: 'preact',
      write: false,
      logLevel: 'silent',
      legalComments: 'none',
    }).then((r) => {
      const js = r.outputFiles[0]!.text;
      return { js, etag: `"${createHash('sha256').update(js).digest('base64url').slice(0, 27)}"` };
    });
    // A failed build is logged, and tried again by the next request.
    this.bundle.catch((err: unknown) => {
      this.log.error({ err: String(err) }, 'the web app could not be built');
      this.bundle = null;
    });
    return this.bundle;
  }

  /** Answers a web app request; false when the path is not ours. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/' && path !== WEB_APP_PATH && !path.startsWith(`${WEB_APP_PATH}/`)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    const send = (type: string, body: string) => {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': `${type}; charset=utf-8` });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (path === '/' || path === WEB_APP_PATH) res.writeHead(302, { location: `${WEB_APP_PATH}/` }).end();
    else if (path === `${WEB_APP_PATH}/`) send('text/html', PAGE);
    else if (path === `${WEB_APP_PATH}/app.css`) send('text/css', this.css);
    else if (path === `${WEB_APP_PATH}/app.js`)
      this.script().then(
        ({ js, etag }) => {
          if (req.headers['if-none-match'] === etag) res.writeHead(304, { ...SECURITY_HEADERS, etag }).end();
          else {
            res.setHeader('etag', etag);
            send('text/javascript', js);
          }
        },
        () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('the web app could not be built\n'),
      );
    else res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    return true;
  }
}
