import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { UPLOAD_PATH } from '../graphql/image-upload.js';
import { encodeGlobalID, localId } from '../graphql/ids.js';
import { bearerToken } from '../services/access/index.js';
import { ServiceError } from '../services/errors.js';
import { UploadTooLargeError } from '../services/storage/index.js';
import { admitRate } from './guard.js';
import type { Services } from '../services/registry.js';

/** An upload that sends nothing for this long is dropped (and leaves nothing behind). */
const IDLE_MS = 60_000;

const STATUS: Record<string, number> = {
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  VALIDATION: 400,
  CONFLICT: 409,
  INVALID_STATE: 409,
  IN_USE: 409,
  LIBVIRT_UNAVAILABLE: 503,
};

/** Whether this request is an image upload's PUT (its path is `UPLOAD_PATH<id>`). */
export function isUploadRequest(req: IncomingMessage): boolean {
  return req.url?.startsWith(UPLOAD_PATH) === true;
}

/**
 * `PUT /uploads/images/<id>`: the bytes of an upload asked for with createImageUpload. Thin: authentication and
 * the upload's claim happen before a byte of the body is read (a refusal answers at once and closes the
 * connection, so the body is never taken in); then the body streams into ImageUploadService, which answers the
 * published image. Answers are JSON: `{ image }` (201) or `{ error: { code, message, field } }`.
 */
export async function handleUpload(req: IncomingMessage, res: ServerResponse, services: Services, log: Logger): Promise<void> {
  if (req.method !== 'PUT') return refuse(res, 405, 'METHOD_NOT_ALLOWED', 'send the file with PUT', { allow: 'PUT' });
  const viewer = services.auth.authenticate(bearerToken(req.headers.authorization));
  if (!viewer) return refuse(res, 401, 'UNAUTHENTICATED', 'a valid API token is required: send "Authorization: Bearer <token>"');
  // An upload is a request like any other: past the limit it is refused before its claim (or an audit row).
  if (!(await admitRate(res, services.rateLimits, viewer))) return;
  const globalId = decodeURIComponent(req.url!.slice(UPLOAD_PATH.length).split('?')[0]!);
  const id = localId(globalId, 'ImageUpload');
  const rawLength = req.headers['content-length'];
  const contentLength = rawLength === undefined ? null : Number(rawLength);
  const audit = (result: string, message: string | null) =>
    services.audit.record(viewer, { action: 'uploadImage', target: encodeGlobalID('ImageUpload', id || 'unknown'), result, message });
  try {
    services.imageUploads.claim(viewer, id, contentLength);
  } catch (err) {
    if (err instanceof ServiceError) audit(err.code, err.message);
    return refuseWith(res, err, log);
  }
  // curl and others wait for this before sending a large body.
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  const socket = req.socket;
  const onIdle = () => req.destroy(new Error('aborted'));
  socket.setTimeout(IDLE_MS);
  socket.on('timeout', onIdle);
  try {
    const image = await services.imageUploads.receive(id, req);
    audit('SUCCESS', null);
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        image: { name: image.name, sizeBytes: image.sizeBytes, sha256: image.sha256, path: image.path, createdAt: image.createdAt },
      }),
    );
  } catch (err) {
    if (err instanceof ServiceError) audit(err.code, err.message);
    if (!res.destroyed) refuseWith(res, err, log);
  } finally {
    // The socket may serve further requests (keep-alive): no idle limit, no listener of this one left on it.
    socket.setTimeout(0);
    socket.off('timeout', onIdle);
  }
}

function refuseWith(res: ServerResponse, err: unknown, log: Logger): void {
  if (!(err instanceof ServiceError)) {
    log.error({ err }, 'unexpected error while receiving an upload');
    return refuse(res, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.');
  }
  const status = err instanceof UploadTooLargeError ? 413 : (STATUS[err.code] ?? 500);
  return refuse(res, status, err.code, err.message, {}, (err as { field?: string | null }).field ?? null);
}

/** Answers and closes the connection: a body not read yet is never taken in. */
function refuse(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  field: string | null = null,
): void {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close', ...headers });
  res.end(JSON.stringify({ error: { code, message, field } }));
}
