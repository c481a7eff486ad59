import { randomUUID } from 'node:crypto';
import { isAbsolute } from 'node:path';
import type { Db } from '../../db/index.js';
import { ImageStore, type Image } from '../../db/stores/images.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import type { DomainDisk } from '../../model/index.js';
import { type AccessPolicy, isAdmin, type Viewer } from '../access/index.js';
import { ConflictError, fromLibvirt, NotFoundError, ValidationError } from '../errors.js';
import { hasHiddenOrControl, MAX_PATH_LENGTH } from '../text.js';

export type { Image };

/** An image as a viewer may see it: the host path only for admins. */
export type ImageView = Omit<Image, 'path'> & { path: string | null };

const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Install media: an admin-managed list of ISOs that live in image pools (VIRTPLANE_IMAGE_POOLS, or any active
 * `dir` pool). Everyone may list them; tenants refer to them by name.
 */
export class ImageService {
  /** Names of images being uploaded (`ImageUploadService`): taken, though not published yet. */
  private readonly reserved = new Set<string>();
  private readonly store: ImageStore;

  constructor(
    db: Db,
    private readonly libvirt: LibvirtClient,
    private readonly imagePools: string[],
    private readonly access: AccessPolicy,
  ) {
    this.store = new ImageStore(db);
  }

  list(viewer: Viewer): ImageView[] {
    const admin = isAdmin(viewer);
    return this.store.list().map((i) => (admin ? i : { ...i, path: null }));
  }

  /** The published install image whose file a drive holds, as `viewer` may see it; null for any other file. */
  inDrive(viewer: Viewer, disk: DomainDisk): ImageView | null {
    if (disk.device !== 'cdrom' || disk.source === null) return null;
    const row = this.store.byPath(disk.source);
    return !row || isAdmin(viewer) ? (row ?? null) : { ...row, path: null };
  }

  byName(name: string): Image {
    const row = this.store.byName(name);
    if (!row) throw new NotFoundError('image', name);
    return row;
  }

  /** VALIDATION (field `name`) unless `name` may name an image. */
  checkName(name: string): void {
    if (!IMAGE_NAME.test(name))
      throw new ValidationError('name: 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit', 'name');
  }

  /** Holds a name for an upload until it is published or given up; CONFLICT when the name is taken. */
  reserve(name: string): void {
    this.checkName(name);
    if (this.reserved.has(name) || this.store.nameTaken(name)) {
      throw new ConflictError(`an image named ${JSON.stringify(name)} already exists or is being uploaded`);
    }
    this.reserved.add(name);
  }

  unreserve(name: string): void {
    this.reserved.delete(name);
  }

  async add(viewer: Viewer, name: string, path: string): Promise<Image> {
    this.access.requireAdmin(viewer);
    this.checkName(name);
    if (this.reserved.has(name)) throw new ConflictError(`an image named ${JSON.stringify(name)} is being uploaded`);
    // Checked here rather than left to libvirt, which answers a NUL or a control character with an error of its own.
    if (!isAbsolute(path) || path.length > MAX_PATH_LENGTH || hasHiddenOrControl(path)) {
      throw new ValidationError(
        `path must be an absolute path on the host, at most ${MAX_PATH_LENGTH} characters, without control characters`,
        'path',
      );
    }
    let volume;
    try {
      volume = await this.libvirt.storage.findVolumeInPools(path, this.imagePools);
    } catch (err) {
      throw fromLibvirt(err);
    }
    if (!volume) {
      const where = this.imagePools.length ? `the image pools (${this.imagePools.join(', ')})` : 'an active dir storage pool';
      throw new ValidationError(`no file ${path} in ${where}`, 'path');
    }
    return this.insert({
      id: randomUUID(),
      name,
      path: volume.targetPath ?? path,
      sizeBytes: volume.capacityBytes,
      sha256: null,
      createdAt: new Date(),
    });
  }

  /** An uploaded file, now a volume in its pool, published under the name its upload reserved. */
  publishUpload(row: Omit<Image, 'id' | 'createdAt'>): Image {
    this.reserved.delete(row.name);
    return this.insert({ ...row, id: randomUUID(), createdAt: new Date() });
  }

  private insert(row: Image): Image {
    // One synchronous transaction: the check and the insert cannot interleave with another request.
    if (!this.store.insertUnlessNameTaken(row)) throw new ConflictError(`an image named ${JSON.stringify(row.name)} already exists`);
    return row;
  }

  remove(viewer: Viewer, name: string): Image {
    this.access.requireAdmin(viewer);
    const row = this.byName(name);
    this.store.delete(row.id);
    return row;
  }
}
