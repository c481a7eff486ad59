import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpPolicy } from '../config.js';
import type { RateDecision, RateLimits, Viewer } from '../services/access/index.js';

/** Request media types a GraphQL client sends (GraphQL over HTTP). Forms and text/plain, which a browser may post cross-site without asking, are not among them. */
const ACCEPTED_MEDIA_TYPES = new Set(['application/json', 'application/graphql-response+json']);

function refuse(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  // The body was not read: `connection: close` makes node close the socket once the answer is out, rather
  // than read (and discard) the rest of the body to keep the connection.
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
    ...headers,
  });
  res.end(body);
}

/**
 * The checks on a request that carries a body (POST), made from its headers alone, in this order:
 * - no valid token: 401 UNAUTHENTICATED (an anonymous caller costs no body read, no parsing, and learns nothing else);
 * - not JSON: 415 (a form or multipart post is what a cross-site page can send without a CORS preflight);
 * - no Content-Length: 411 (so the size is known before reading), over `maxBodyBytes`: 413.
 * Returns true when the request may go on to yoga; otherwise it has been answered.
 */
export function admitBody(req: IncomingMessage, res: ServerResponse, policy: HttpPolicy, authenticated: boolean): boolean {
  const cors = corsHeaders(req, policy);
  if (!authenticated) {
    refuse(res, 401, 'UNAUTHENTICATED', 'a valid API token is required: send "Authorization: Bearer <token>"', {
      'www-authenticate': 'Bearer',
      ...cors,
    });
    return false;
  }
  const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!ACCEPTED_MEDIA_TYPES.has(mediaType)) {
    refuse(res, 415, 'BAD_REQUEST', 'a POST body must be JSON: send "Content-Type: application/json"', cors);
    return false;
  }
  const length = req.headers['content-length'];
  if (length === undefined) {
    refuse(res, 411, 'BAD_REQUEST', 'send the body with a Content-Length', cors);
    return false;
  }
  if (Number(length) > policy.maxBodyBytes) {
    refuse(res, 413, 'PAYLOAD_TOO_LARGE', `the request body may be at most ${policy.maxBodyBytes} bytes`, cors);
    return false;
  }
  return true;
}

/** Headers a page of another origin may read in an answer (with yoga's own CORS for the answers it writes). */
export const EXPOSED_HEADERS = [
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'retry-after',
];

/**
 * The CORS headers of a refusal written here (not by yoga, which adds its own): a page of an allowed origin
 * must be able to read why it was refused (401, 429 and its Retry-After), not only see a network error.
 */
export function corsHeaders(req: IncomingMessage, policy: HttpPolicy): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || !(policy.corsOrigins.includes('*') || policy.corsOrigins.includes(origin))) return {};
  return { 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED_HEADERS.join(', '), vary: 'Origin' };
}

/**
 * The rate-limit headers of an answer, as draft-ietf-httpapi-ratelimit-headers-06 writes them (the form
 * clients and proxies read today): the policy (`600;w=60`), the limit, what is left, seconds to the reset.
 */
function rateLimitHeaders(d: RateDecision): Record<string, string> {
  return {
    'ratelimit-policy': `${d.limit};w=60`,
    'ratelimit-limit': String(d.limit),
    'ratelimit-remaining': String(d.remaining),
    'ratelimit-reset': String(d.resetSeconds),
  };
}

/**
 * Takes one request from the caller's rate limit. Within it, the answer will carry the RateLimit headers;
 * past it, the request is answered 429 RATE_LIMITED with Retry-After (its body unread). Returns whether the
 * request may go on.
 */
export async function admitRate(
  res: ServerResponse,
  limits: RateLimits,
  viewer: Viewer,
  cors: Record<string, string> = {},
): Promise<boolean> {
  const d = await limits.take(viewer);
  if (!d) return true;
  const headers = rateLimitHeaders(d);
  if (d.allowed) {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    return true;
  }
  refuse(res, 429, 'RATE_LIMITED', d.refusal, { ...headers, 'retry-after': String(d.resetSeconds), ...cors });
  return false;
}
