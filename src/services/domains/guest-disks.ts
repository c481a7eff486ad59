import { existsSync } from 'node:fs';
import type { VolumeRef } from '../../db/stores/provisioning.js';
import type { LibvirtBus } from '../../libvirt/bus.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { createVolume, deleteVolume, readPool } from '../../libvirt/storage.js';
import type { StoragePaths } from '../../libvirt/storage-paths.js';
import type { DefinedPoolStore } from '../../db/stores/storage.js';
import type { ProvisioningOptions } from './options.js';
import { ignoreKinds } from './steps.js';

/** Guest disks virtplane creates are named `vp-<domain uuid>` (`.qcow2` in file-based pools). */
export const VOLUME_NAME = /^vp-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\.qcow2)?$/;

export interface StoragePool {
  path: string;
  name: string;
  type: string;
}

export function isOurVolume(name: string, uuid: string): boolean {
  return VOLUME_NAME.exec(name)?.[1] === uuid;
}

/** The storage pool of guest disks, made ready on first use, and the disk volumes in it. */
export class GuestDisks {
  private storage: Promise<StoragePool> | null = null;
  private readonly bus: LibvirtBus;
  /** The client's, shared with the re-reads (LibvirtSync), so a volume created here is known to them without a lookup. */
  private readonly storagePaths: StoragePaths;

  constructor(
    private readonly libvirt: LibvirtClient,
    private readonly options: Pick<ProvisioningOptions, 'storagePool' | 'storageDir' | 'onPoolDefining'>,
    /** Where the guest-disk pool is recorded when virtplane has to define it. */
    private readonly definedPools: DefinedPoolStore | null,
  ) {
    this.bus = libvirt.bus;
    this.storagePaths = libvirt.storagePaths;
    // libvirt-dbus (or the bus) replaced: the pool is made ready and looked up afresh by the next create.
    this.storagePaths.onReset(() => (this.storage = null));
  }

  /** Our pool as made ready; `afresh` forgets the one remembered first (its object path may have gone stale). */
  async ready(afresh = false): Promise<StoragePool> {
    if (afresh) this.forgetPool();
    try {
      return await this.pool();
    } catch (err) {
      this.forgetPool();
      throw err;
    }
  }

  /**
   * The disk volume in our pool. A remembered pool path that libvirt no longer knows (libvirt-dbus restarted,
   * the pool made anew) answers NOT_FOUND: the pool is then made ready afresh and the call retried once.
   */
  async createVolume(pool: StoragePool, name: string, capacityBytes: number): Promise<string> {
    try {
      return await createVolume(this.bus, pool.path, { name, capacityBytes, format: 'qcow2' }, pool.type);
    } catch (err) {
      if (!(err instanceof LibvirtError && err.kind === 'NOT_FOUND')) throw err;
      const fresh = await this.ready(true);
      if (fresh.name !== pool.name || fresh.type !== pool.type) throw err;
      return createVolume(this.bus, fresh.path, { name, capacityBytes, format: 'qcow2' }, fresh.type);
    }
  }

  /**
   * Deletes a volume found at `found` (a remembered path, or a lookup under way). A remembered path may be
   * stale (the volume or its pool made anew since): NOT_FOUND there is checked with fresh lookups before the
   * volume counts as gone.
   */
  async deleteRemembered(ref: VolumeRef, found: Promise<string>): Promise<void> {
    try {
      await deleteVolume(this.bus, await found);
    } catch (err) {
      ignoreKinds('NOT_FOUND')(err);
      this.storagePaths.forgetVolume(ref.pool, ref.volume);
      this.storagePaths.forgetPool(ref.pool); // the pool may have been made anew too (a new UUID, a new path)
      await this.storagePaths
        .volume(ref.pool, ref.volume)
        .then((path) => deleteVolume(this.bus, path))
        .catch(ignoreKinds('NOT_FOUND'));
    } finally {
      this.storagePaths.forgetVolume(ref.pool, ref.volume);
    }
  }

  /** Our storage pool is looked up (and made ready) afresh next time, its remembered object path too. */
  forgetPool(): void {
    this.storage = null;
    this.storagePaths.forgetPool(this.options.storagePool);
  }

  /** The storage pool of guest disks, made ready once (defined as a `dir` pool if missing, started). */
  private pool(): Promise<StoragePool> {
    this.storage ??= (async () => {
      const { storagePool: name, storageDir } = this.options;
      let defining = false;
      let path: string;
      try {
        path = await this.libvirt.storage.ensurePool(
          { type: 'dir', name, targetPath: storageDir },
          {
            beforeDefine: () => {
              defining = true;
              this.options.onPoolDefining?.(name);
              this.definedPools?.recordIntent(name, 'dir', !existsSync(storageDir));
            },
          },
        );
      } catch (err) {
        // The record goes with a define that failed; a pool defined but not started stays recorded.
        if (defining) await this.libvirt.storage.lookupPool(name).catch(() => this.definedPools?.forget(name));
        throw err;
      }
      const pool = await readPool(this.bus, path);
      if (defining) this.definedPools?.setUuid(name, pool.uuid);
      return { path, name: pool.name, type: pool.type };
    })();
    return this.storage;
  }
}
