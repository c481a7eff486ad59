import { existsSync } from 'node:fs';
import { dirname, normalize } from 'node:path';
import type { Db } from '../../db/index.js';
import { ImageStore } from '../../db/stores/images.js';
import { ProvisioningStore } from '../../db/stores/provisioning.js';
import { POOL_TYPES, type PoolSpec, type PoolType } from '../../model/index.js';
import type { LibvirtBus } from '../../libvirt/bus.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import { LibvirtError } from '../../libvirt/errors.js';
import {
  buildPool,
  deletePoolStorage,
  listVolumes,
  readPool,
  setPoolAutostart,
  startPool,
  stopPool,
  undefinePool,
  VIR_STORAGE_POOL_BUILD_NEW,
  VIR_STORAGE_POOL_BUILD_NO_OVERWRITE,
  type PoolRecord,
} from '../../libvirt/storage.js';
import { type AccessPolicy, isAdmin, type Viewer } from '../access/index.js';
import type { DefinedPoolStore } from '../../db/stores/storage.js';
import { ConflictError, fromLibvirt, InUseError, InvalidStateError, NotFoundError } from '../errors.js';
import type { StateCache } from '../sync/index.js';
import { validatePool, type CreatePoolInput } from './pool-input.js';

/** A pool as the API shows it: libvirt's record, its type in libvirt's vocabulary, and whether virtplane defined it. */
export interface StoragePoolView extends PoolRecord {
  kind: PoolType;
  definedByVirtplane: boolean;
}

function kindOf(type: string): PoolType {
  const upper = type.toUpperCase().replace(/-/g, '_') as PoolType;
  return POOL_TYPES.includes(upper) ? upper : 'OTHER';
}

/**
 * Storage pools, for admins: list them with capacity, define `dir` and `logical` ones, start, stop, and delete
 * the ones virtplane defined while nothing is in them. Pools are read from libvirt on every request (a host
 * has a handful; libvirt announces no capacity changes, so a cache would only be stale).
 */
export class StoragePoolService {
  /** createStoragePool runs one at a time: the name, path and volume group checks see every earlier create. */
  private createQueue: Promise<unknown> = Promise.resolve();
  private readonly images: ImageStore;
  private readonly provisioning: ProvisioningStore;

  private get bus(): LibvirtBus {
    return this.libvirt.bus;
  }

  constructor(
    private readonly libvirt: LibvirtClient,
    db: Db,
    private readonly cache: StateCache,
    private readonly access: AccessPolicy,
    readonly defined: DefinedPoolStore,
    /** The pool guest disks are created in (VIRTPLANE_STORAGE_POOL): never deleted through the API. */
    private readonly guestPool: string,
    /** Whether something else (an upload in progress) is writing into a pool. */
    private readonly busy: (pool: string) => boolean = () => false,
  ) {
    this.images = new ImageStore(db);
    this.provisioning = new ProvisioningStore(db);
  }

  async list(viewer: Viewer): Promise<StoragePoolView[]> {
    this.access.requireAdmin(viewer);
    let records: StoragePoolView[];
    try {
      records = await this.readAll();
    } catch (err) {
      throw fromLibvirt(err);
    }
    return records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A pool by UUID for admins; null for tenants and unknown pools. */
  async find(viewer: Viewer, uuid: string): Promise<StoragePoolView | null> {
    return isAdmin(viewer) ? this.byUuid(uuid) : null;
  }

  /** An active dir pool's record by name, for services writing files into it; NOT_FOUND when there is none. */
  async byName(name: string): Promise<StoragePoolView> {
    try {
      return this.view(await readPool(this.bus, await this.libvirt.storage.lookupPool(name)));
    } catch (err) {
      throw fromLibvirt(err, { kind: 'storage pool', id: name });
    }
  }

  async create(viewer: Viewer, input: CreatePoolInput): Promise<StoragePoolView> {
    this.access.requireAdmin(viewer);
    const spec = validatePool(input);
    const run = this.createQueue.then(() => this.createChecked(spec, input));
    this.createQueue = run.catch(() => {});
    return run;
  }

  async delete(viewer: Viewer, uuid: string): Promise<StoragePoolView> {
    this.access.requireAdmin(viewer);
    const pool = await this.get(uuid);
    if (!pool.definedByVirtplane) {
      throw new InvalidStateError(
        `storage pool ${pool.name} was not defined by virtplane, which deletes only its own pools; remove it with virsh pool-destroy and pool-undefine`,
      );
    }
    if (pool.name === this.guestPool) throw new InUseError(`storage pool ${pool.name} holds the guest disks (VIRTPLANE_STORAGE_POOL)`);
    await this.refuseInUse(pool);
    const record = this.defined.get(pool.name)!;
    try {
      if (pool.active) await stopPool(this.bus, pool.path);
      if (record.builtStorage) {
        try {
          await deletePoolStorage(this.bus, pool.path);
        } catch (err) {
          // Something is still in the directory or volume group: the pool stays as it was.
          if (pool.active) await startPool(this.bus, pool.path).catch(() => {});
          throw new InUseError(`storage pool ${pool.name}: its storage could not be removed (${(err as Error).message}); the pool is kept`);
        }
      }
      await undefinePool(this.bus, pool.path);
    } catch (err) {
      throw fromLibvirt(err, { kind: 'storage pool', id: uuid });
    }
    this.defined.forget(pool.name);
    return { ...pool, active: false, state: 'INACTIVE' };
  }

  async start(viewer: Viewer, uuid: string): Promise<StoragePoolView> {
    this.access.requireAdmin(viewer);
    const pool = await this.get(uuid);
    if (pool.active) throw new InvalidStateError(`storage pool ${pool.name} is already active`);
    try {
      await startPool(this.bus, pool.path);
      return this.view(await readPool(this.bus, pool.path));
    } catch (err) {
      throw fromLibvirt(err, { kind: 'storage pool', id: uuid });
    }
  }

  async stop(viewer: Viewer, uuid: string): Promise<StoragePoolView> {
    this.access.requireAdmin(viewer);
    const pool = await this.get(uuid);
    if (!pool.active) throw new InvalidStateError(`storage pool ${pool.name} is not active`);
    if (pool.name === this.guestPool) throw new InUseError(`storage pool ${pool.name} holds the guest disks (VIRTPLANE_STORAGE_POOL)`);
    if (this.busy(pool.name)) throw new InUseError(`an image upload is writing into storage pool ${pool.name}`);
    try {
      await stopPool(this.bus, pool.path);
      return this.view(await readPool(this.bus, pool.path));
    } catch (err) {
      throw fromLibvirt(err, { kind: 'storage pool', id: uuid });
    }
  }

  private async createChecked(spec: PoolSpec, input: CreatePoolInput): Promise<StoragePoolView> {
    let existing: StoragePoolView[];
    try {
      existing = await this.readAll();
    } catch (err) {
      throw fromLibvirt(err);
    }
    if (existing.some((p) => p.name === spec.name))
      throw new ConflictError(`a storage pool named ${JSON.stringify(spec.name)} already exists`);
    if (spec.type === 'dir') {
      const other = existing.find((p) => p.type === 'dir' && p.targetPath && normalize(p.targetPath) === spec.targetPath);
      if (other) throw new ConflictError(`storage pool ${other.name} already uses the directory ${spec.targetPath}`);
    } else {
      const other = existing.find((p) => p.type === 'logical' && p.sourceName === spec.vgName);
      if (other) throw new ConflictError(`storage pool ${other.name} already uses the volume group ${spec.vgName}`);
      const devices = new Set(spec.devices);
      const sharing = existing.find((p) => p.sourceDevices.some((d) => devices.has(d)));
      if (sharing) throw new ConflictError(`storage pool ${sharing.name} already uses one of the sourceDevices`);
    }
    // virtplane removes a pool's storage on delete only where it made it: a directory that was not there yet,
    // or a volume group it built from devices (an existing group, named without devices, is only used).
    const builtStorage = spec.type === 'dir' ? !existsSync(spec.targetPath) : spec.devices.length > 0;
    this.defined.recordIntent(spec.name, spec.type, builtStorage);
    const undo: (() => Promise<unknown>)[] = [];
    try {
      const path = await this.libvirt.storage.definePool(spec);
      undo.push(() => undefinePool(this.bus, path));
      this.defined.setUuid(spec.name, (await readPool(this.bus, path)).uuid);
      if (spec.type === 'dir' || spec.devices.length) {
        await this.build(path, spec.type);
        if (builtStorage) undo.push(() => deletePoolStorage(this.bus, path));
      }
      if (input.start) {
        await startPool(this.bus, path);
        undo.push(() => stopPool(this.bus, path));
      }
      if (input.autostart) await setPoolAutostart(this.bus, path, true);
      return this.view(await readPool(this.bus, path));
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => {});
      this.defined.forget(spec.name);
      throw fromLibvirt(err);
    }
  }

  /**
   * Builds a pool's storage. A logical pool is built with NO_OVERWRITE: libvirt then refuses devices that hold a
   * file system or an LVM label already. Only a driver that knows no such flag (the test driver, which builds
   * nothing at all) is asked again without it.
   */
  private async build(path: string, type: PoolSpec['type']): Promise<void> {
    if (type !== 'logical') return buildPool(this.bus, path, VIR_STORAGE_POOL_BUILD_NEW);
    try {
      await buildPool(this.bus, path, VIR_STORAGE_POOL_BUILD_NO_OVERWRITE);
    } catch (err) {
      if (!(err instanceof LibvirtError && /unsupported flags/.test(err.message))) throw err;
      await buildPool(this.bus, path, VIR_STORAGE_POOL_BUILD_NEW);
    }
  }

  /** IN_USE while a domain's disk, a kept disk, a published image, an upload or any volume is in the pool. */
  private async refuseInUse(pool: StoragePoolView): Promise<void> {
    const dir = pool.targetPath ? normalize(pool.targetPath) : null;
    const inDir = (file: string | null) => dir !== null && file !== null && dirname(normalize(file)) === dir;
    for (const d of this.cache.domains.values()) {
      if (d.disks.some((disk) => disk.pool === pool.name || inDir(disk.source)))
        throw new InUseError(`domain ${d.name} has a disk in storage pool ${pool.name}`);
    }
    const kept = this.provisioning.keptInPool(pool.name);
    if (kept) throw new InUseError(`storage pool ${pool.name} holds ${kept.volume}, the kept disk of domain ${kept.domainName}`);
    const image = this.images.all().find((i) => inDir(i.path));
    if (image) throw new InUseError(`storage pool ${pool.name} holds the published image ${image.name} (removeImage first)`);
    if (this.busy(pool.name)) throw new InUseError(`an image upload is writing into storage pool ${pool.name}`);
    if (pool.active) {
      let volumes: string[];
      try {
        volumes = await listVolumes(this.bus, pool.path);
      } catch (err) {
        throw fromLibvirt(err, { kind: 'storage pool', id: pool.uuid });
      }
      if (volumes.length) throw new InUseError(`storage pool ${pool.name} still holds ${volumes.length} volume(s)`);
    }
  }

  private async get(uuid: string): Promise<StoragePoolView> {
    const pool = await this.byUuid(uuid);
    if (!pool) throw new NotFoundError('storage pool', uuid);
    return pool;
  }

  private async byUuid(uuid: string): Promise<StoragePoolView | null> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)) return null;
    try {
      return this.view(await readPool(this.bus, await this.libvirt.storage.lookupPoolByUuid(uuid)));
    } catch (err) {
      if (err instanceof LibvirtError && err.kind === 'NOT_FOUND') return null;
      throw fromLibvirt(err);
    }
  }

  private async readAll(): Promise<StoragePoolView[]> {
    const paths = await this.libvirt.storage.listPools('interactive');
    const records = await Promise.all(
      paths.map((p) =>
        readPool(this.bus, p).catch((err) => {
          if (err instanceof LibvirtError && err.kind === 'NOT_FOUND') return null; // undefined since it was listed
          throw err;
        }),
      ),
    );
    return records.filter((r): r is PoolRecord => r !== null).map((r) => this.view(r));
  }

  private view(record: PoolRecord): StoragePoolView {
    const row = this.defined.get(record.name);
    return { ...record, kind: kindOf(record.type), definedByVirtplane: row !== null && (row.uuid === null || row.uuid === record.uuid) };
  }
}
