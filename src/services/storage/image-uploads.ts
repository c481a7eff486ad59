import { createHash, randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, link, open, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { Db } from '../../db/index.js';
import { UploadFileStore } from '../../db/stores/storage.js';
import type { LibvirtBus } from '../../libvirt/bus.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { lookupVolume, readVolume, refreshPool } from '../../libvirt/storage.js';
import { type AccessPolicy, isAdmin, type Viewer } from '../access/index.js';
import { ConflictError, fromLibvirt, InvalidStateError, LimitExceededError, NotFoundError, ValidationError } from '../errors.js';
import type { Image, ImageService } from './images.js';
import type { StoragePoolService, StoragePoolView } from './storage-pools.js';

export const UPLOAD_STATES = ['PENDING', 'RECEIVING', 'DONE', 'FAILED', 'EXPIRED'] as const;
export type UploadState = (typeof UPLOAD_STATES)[number];

/** An upload's state as the uploader sees it (`imageUpload(id)`). */
export interface ImageUpload {
  id: string;
  name: string;
  pool: string;
  sizeBytes: number;
  sha256: string | null;
  receivedBytes: number;
  state: UploadState;
  /** Why it failed (FAILED only). */
  error: string | null;
  expiresAt: Date;
  image: Image | null;
}

interface Upload extends ImageUpload {
  userId: string;
  /** The pool's directory, and the file the image becomes there. */
  dir: string;
  fileName: string;
  poolPath: string;
}

export interface ImageUploadOptions {
  /** Largest upload accepted (VIRTPLANE_MAX_UPLOAD_GIB). */
  maxBytes: number;
  /** Pool used when none is named: the first image pool, else the guest-disk pool. */
  defaultPool: string;
  /** Pools images must be in (VIRTPLANE_IMAGE_POOLS); empty: any active dir pool. */
  imagePools: string[];
  /** How long an upload URL may wait for its PUT. */
  ttlMs?: number;
}

/** An upload's bytes did not fit what was declared: more than `sizeBytes`. HTTP answers 413. */
export class UploadTooLargeError extends ValidationError {}

const SHA256 = /^[0-9a-f]{64}$/;
const MAX_OPEN_UPLOADS = 32;
const DEFAULT_TTL_MS = 3600_000;
/** Finished and expired uploads stay visible this long for the uploader to read their outcome. */
const KEEP_FINISHED_MS = 3600_000;

/**
 * ISO uploads over HTTP. An admin asks for an upload (`create`: name, pool, size, optional SHA-256) and gets a
 * one-time id; the HTTP layer then streams the PUT body into `receive`. The bytes go to a hidden temporary file
 * in the pool's directory (never into memory beyond the stream's buffers), counted and hashed on the way; only
 * when the size (and the SHA-256, when given) match is the file linked to its final name (never over an
 * existing file), the pool refreshed and the image published. Any failure — too many bytes, too few, a wrong
 * hash, a dropped connection — removes the temporary file; a server stopped mid-upload removes it at the next
 * start (`upload_files`). libvirt-dbus has no stream API, so virStorageVolUpload is out of reach: the file is
 * written here, which needs the server on the same host as libvirtd (as the system-bus mode is).
 */
export class ImageUploadService {
  private readonly uploads = new Map<string, Upload>();
  private readonly files: UploadFileStore;

  constructor(
    db: Db,
    private readonly bus: LibvirtBus,
    private readonly access: AccessPolicy,
    private readonly images: ImageService,
    private readonly pools: StoragePoolService,
    private readonly options: ImageUploadOptions,
    private readonly log: Logger,
  ) {
    this.files = new UploadFileStore(db);
  }

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  /** Removes temporary files of uploads a stopped server was receiving. */
  async start(): Promise<void> {
    for (const row of this.files.all()) {
      await unlink(row.tempPath).catch(() => {});
      this.files.forget(row.id);
      this.log.info({ upload: row.id, file: row.tempPath }, 'removed the temporary file of an interrupted upload');
    }
  }

  /** Whether an upload is writing into `pool` (a pool is not stopped or deleted under it). */
  writingInto(pool: string): boolean {
    for (const u of this.uploads.values()) if (u.pool === pool && u.state === 'RECEIVING') return true;
    return false;
  }

  async create(
    viewer: Viewer,
    input: { name: string; pool?: string | null; sizeBytes: number; sha256?: string | null },
  ): Promise<ImageUpload> {
    this.access.requireAdmin(viewer);
    this.sweep();
    this.images.checkName(input.name);
    const { maxBytes } = this.options;
    if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes <= 0)
      throw new ValidationError('sizeBytes must be a positive whole number', 'sizeBytes');
    if (input.sizeBytes > maxBytes)
      throw new ValidationError(`sizeBytes is over the upload limit of ${maxBytes} bytes (VIRTPLANE_MAX_UPLOAD_GIB)`, 'sizeBytes');
    const sha256 = input.sha256?.toLowerCase() ?? null;
    if (sha256 !== null && !SHA256.test(sha256)) throw new ValidationError('sha256 must be 64 hexadecimal digits', 'sha256');
    const poolName = input.pool ?? this.options.imagePools[0] ?? this.options.defaultPool;
    if (this.options.imagePools.length && !this.options.imagePools.includes(poolName)) {
      throw new ValidationError(`images go into the image pools (${this.options.imagePools.join(', ')})`, 'pool');
    }
    if ([...this.uploads.values()].filter((u) => u.state === 'PENDING' || u.state === 'RECEIVING').length >= MAX_OPEN_UPLOADS) {
      throw new LimitExceededError(`at most ${MAX_OPEN_UPLOADS} uploads may be open at once`);
    }
    let pool: StoragePoolView;
    try {
      pool = await this.pools.byName(poolName);
    } catch (err) {
      if (err instanceof NotFoundError) throw new ValidationError(`no storage pool named ${JSON.stringify(poolName)}`, 'pool');
      throw err;
    }
    const dir = await this.writableDir(pool);
    const free = await statfs(dir).then((s) => s.bavail * s.bsize);
    if (free < input.sizeBytes)
      throw new ValidationError(`storage pool ${pool.name} has ${free} bytes free, fewer than sizeBytes`, 'sizeBytes');
    const fileName = `${input.name}.iso`;
    if (
      await access(join(dir, fileName)).then(
        () => true,
        () => false,
      )
    ) {
      throw new ConflictError(`storage pool ${pool.name} already holds a file ${fileName}`);
    }
    this.images.reserve(input.name);
    const upload: Upload = {
      id: randomUUID(),
      userId: viewer.userId,
      name: input.name,
      pool: pool.name,
      poolPath: pool.path,
      dir,
      fileName,
      sizeBytes: input.sizeBytes,
      sha256,
      receivedBytes: 0,
      state: 'PENDING',
      error: null,
      expiresAt: new Date(Date.now() + (this.options.ttlMs ?? DEFAULT_TTL_MS)),
      image: null,
    };
    this.uploads.set(upload.id, upload);
    return this.shown(upload);
  }

  /** An upload its creator may read; null for anyone else (tenants included) and for unknown ids. */
  find(viewer: Viewer, id: string): ImageUpload | null {
    if (!isAdmin(viewer)) return null;
    this.sweep();
    const upload = this.uploads.get(id);
    return upload && upload.userId === viewer.userId ? this.shown(upload) : null;
  }

  /**
   * Takes an upload for its PUT, before a byte of the body is read: only its creator, only once, only before it
   * expires, and only with a Content-Length (when sent) equal to the declared size.
   */
  claim(viewer: Viewer, id: string, contentLength: number | null): ImageUpload {
    this.access.requireAdmin(viewer);
    this.sweep();
    const upload = this.uploads.get(id);
    if (!upload || upload.userId !== viewer.userId) throw new NotFoundError('image upload', id);
    if (upload.state === 'EXPIRED') throw new InvalidStateError('this upload expired before its body was sent; ask for a new one');
    if (upload.state !== 'PENDING') throw new ConflictError('this upload URL was used already; ask for a new upload');
    if (contentLength !== null && contentLength > upload.sizeBytes) {
      this.fail(upload, `Content-Length ${contentLength} is over the declared sizeBytes ${upload.sizeBytes}`);
      throw new UploadTooLargeError(upload.error!, 'sizeBytes');
    }
    if (contentLength !== null && contentLength !== upload.sizeBytes) {
      this.fail(upload, `Content-Length ${contentLength} is not the declared sizeBytes ${upload.sizeBytes}`);
      throw new ValidationError(upload.error!, 'sizeBytes');
    }
    upload.state = 'RECEIVING';
    return this.shown(upload);
  }

  /** Streams a claimed upload's body to disk, checks it, and publishes the image. */
  async receive(id: string, body: Readable): Promise<Image> {
    const upload = this.uploads.get(id);
    if (!upload || upload.state !== 'RECEIVING') throw new InvalidStateError('this upload was not claimed');
    const tempPath = join(upload.dir, `.virtplane-upload-${upload.id}.part`);
    const finalPath = join(upload.dir, upload.fileName);
    let linked = false;
    try {
      this.files.record(upload.id, tempPath);
      const hash = createHash('sha256');
      const counter = new Transform({
        transform: (chunk: Buffer, _enc, done) => {
          upload.receivedBytes += chunk.length;
          if (upload.receivedBytes > upload.sizeBytes)
            return done(new UploadTooLargeError(`the body is longer than the declared sizeBytes ${upload.sizeBytes}`, 'sizeBytes'));
          hash.update(chunk);
          done(null, chunk);
        },
      });
      await pipeline(body, counter, createWriteStream(tempPath, { flags: 'wx', mode: 0o644 }));
      // On disk before it is published (the stream's own descriptor is closed by now: fsync through another).
      const file = await open(tempPath, 'r');
      try {
        await file.sync();
      } finally {
        await file.close();
      }
      if (upload.receivedBytes !== upload.sizeBytes) {
        throw new ValidationError(`the body ended after ${upload.receivedBytes} of the declared ${upload.sizeBytes} bytes`, 'sizeBytes');
      }
      const sha256 = hash.digest('hex');
      if (upload.sha256 !== null && sha256 !== upload.sha256)
        throw new ValidationError(`the body's SHA-256 is ${sha256}, not the declared ${upload.sha256}`, 'sha256');
      try {
        // A link, not a rename: it never replaces a file that appeared under the final name meanwhile.
        await link(tempPath, finalPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST')
          throw new ConflictError(`storage pool ${upload.pool} already holds a file ${upload.fileName}`);
        throw err;
      }
      linked = true;
      await unlink(tempPath);
      const volume = await this.volumeOf(upload);
      upload.image = this.images.publishUpload({ name: upload.name, path: volume, sizeBytes: upload.sizeBytes, sha256 });
      upload.state = 'DONE';
      this.log.info({ image: upload.name, pool: upload.pool, bytes: upload.sizeBytes }, 'image uploaded');
      return upload.image;
    } catch (err) {
      const cause = isAborted(err) ? 'the connection closed before the whole body arrived' : (err as Error).message;
      this.fail(upload, cause);
      await unlink(tempPath).catch(() => {});
      if (linked) await unlink(finalPath).catch(() => {});
      // A refresh that ran meanwhile (addImage, another upload) may have listed the file as a volume.
      await refreshPool(this.bus, upload.poolPath).catch(() => {});
      if (isAborted(err)) throw new ValidationError(cause, 'sizeBytes');
      const code = (err as NodeJS.ErrnoException).code;
      throw typeof code === 'string' && code.startsWith('E')
        ? new InvalidStateError(`writing ${upload.fileName} into storage pool ${upload.pool} failed: ${code}`)
        : fromLibvirt(err);
    } finally {
      this.files.forget(upload.id);
    }
  }

  /** The uploaded file as a volume of its pool: its host path, as libvirt names it. */
  private async volumeOf(upload: Upload): Promise<string> {
    await refreshPool(this.bus, upload.poolPath);
    let volumePath: string;
    try {
      volumePath = await lookupVolume(this.bus, upload.poolPath, upload.fileName);
    } catch (err) {
      if (!(err instanceof LibvirtError && err.kind === 'NOT_FOUND')) throw err;
      // libvirt's test driver, for one, never scans a directory.
      throw new InvalidStateError(
        `storage pool ${upload.pool} did not list ${upload.fileName} as a volume after a refresh; nothing was published`,
      );
    }
    const volume = await readVolume(this.bus, volumePath);
    return volume.targetPath ?? join(upload.dir, upload.fileName);
  }

  /** The directory of an active dir pool, writable by this process; VALIDATION (field `pool`) otherwise. */
  private async writableDir(pool: StoragePoolView): Promise<string> {
    if (pool.type !== 'dir' || !pool.targetPath)
      throw new ValidationError(`storage pool ${pool.name} is no dir pool; images are files in a directory`, 'pool');
    if (!pool.active) throw new ValidationError(`storage pool ${pool.name} is not active`, 'pool');
    try {
      await access(pool.targetPath, constants.W_OK);
    } catch {
      throw new ValidationError(`the directory of storage pool ${pool.name} (${pool.targetPath}) is not writable on this host`, 'pool');
    }
    return pool.targetPath;
  }

  private fail(upload: Upload, error: string): void {
    upload.state = 'FAILED';
    upload.error = error;
    this.images.unreserve(upload.name);
    this.log.info({ image: upload.name, pool: upload.pool, error }, 'image upload failed');
  }

  /** Expires uploads never started, and forgets finished ones after a while. */
  private sweep(now = Date.now()): void {
    for (const [id, u] of this.uploads) {
      if (u.state === 'PENDING' && u.expiresAt.getTime() <= now) {
        u.state = 'EXPIRED';
        this.images.unreserve(u.name);
      }
      if ((u.state === 'DONE' || u.state === 'FAILED' || u.state === 'EXPIRED') && u.expiresAt.getTime() + KEEP_FINISHED_MS <= now)
        this.uploads.delete(id);
    }
  }

  private shown(u: Upload): ImageUpload {
    return {
      id: u.id,
      name: u.name,
      pool: u.pool,
      sizeBytes: u.sizeBytes,
      sha256: u.sha256,
      receivedBytes: u.receivedBytes,
      state: u.state,
      error: u.error,
      expiresAt: u.expiresAt,
      image: u.image,
    };
  }
}

function isAborted(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error)?.message === 'aborted';
}
