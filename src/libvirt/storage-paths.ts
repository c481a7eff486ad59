import type { Lane, LibvirtBus } from './bus.js';
import { LibvirtError } from './errors.js';
import { lookupPool, lookupVolume, lookupVolumeByPath, readVolume } from './storage.js';

const VOLUME = 'org.libvirt.StorageVol';

/**
 * Object paths of pools and volumes by name, remembered: libvirt-dbus derives them from the pool's UUID and
 * the volume's key, so they hold while the object exists. A path that stops working is forgotten (by the
 * caller that found out) and looked up again. When `org.libvirt` changes hands or the bus connection is made
 * anew, libvirt may be another one (the test driver lives inside libvirt-dbus and starts empty): everything
 * is forgotten, and `onReset` listeners drop what they derived from it.
 */
export class StoragePaths {
  private readonly resetListeners: (() => void)[] = [];
  private readonly pools = new Map<string, Promise<string>>();
  private readonly volumes = new Map<string, Promise<string>>();
  /** Capacities of volumes just created, each handed to the first read that asks: later reads ask libvirt, which knows of resizes. */
  private readonly createdCapacities = new Map<string, number>();
  /** Whether this driver answers virStorageVolGetInfoFlags (unknown until first asked). */
  volumeInfo: boolean | undefined;

  constructor(
    private readonly bus: LibvirtBus,
    private readonly driverPath: string,
  ) {
    bus.on('owner-changed', () => this.reset());
    bus.on('reconnected', () => this.reset());
  }

  /** `listener` runs whenever every remembered path is dropped (libvirt-dbus or the bus replaced). */
  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  private reset(): void {
    this.pools.clear();
    this.volumes.clear();
    this.createdCapacities.clear();
    this.volumeInfo = undefined;
    for (const l of this.resetListeners) l();
  }

  pool(name: string, lane: Lane = 'interactive'): Promise<string> {
    return remembered(this.pools, name, () => lookupPool(this.bus, this.driverPath, name, lane));
  }

  volume(pool: string, name: string, lane: Lane = 'interactive'): Promise<string> {
    return remembered(this.volumes, volumeKey(pool, name), async () => lookupVolume(this.bus, await this.pool(pool, lane), name, lane));
  }

  /** A volume just created: its path, and the capacity it was created with, are known without asking. */
  rememberVolume(pool: string, name: string, path: string, capacityBytes?: number): void {
    this.volumes.set(volumeKey(pool, name), Promise.resolve(path));
    if (capacityBytes !== undefined) this.createdCapacities.set(volumeKey(pool, name), capacityBytes);
  }

  /** The capacity a volume was just created with, once; undefined when there is none or it was taken. */
  takeCreatedCapacity(pool: string, name: string): number | undefined {
    const key = volumeKey(pool, name);
    const capacity = this.createdCapacities.get(key);
    this.createdCapacities.delete(key);
    return capacity;
  }

  forgetVolume(pool: string, name: string): void {
    this.volumes.delete(volumeKey(pool, name));
    this.createdCapacities.delete(volumeKey(pool, name));
  }

  /** Volume paths stay: libvirt-dbus derives them from the volume's key, not from its pool. */
  forgetPool(name: string): void {
    this.pools.delete(name);
  }
}

/** Pool names cannot contain '/', so pool/volume is unambiguous. */
function volumeKey(pool: string, name: string): string {
  return `${pool}/${name}`;
}

function remembered(map: Map<string, Promise<string>>, key: string, lookup: () => Promise<string>): Promise<string> {
  let path = map.get(key);
  if (!path) {
    path = lookup();
    map.set(key, path);
    path.catch(() => {
      if (map.get(key) === path) map.delete(key);
    });
  }
  return path;
}

/**
 * A volume's capacity in bytes. virStorageVolGetInfoFlags answers without XML; drivers without it (the test
 * driver) are asked for the volume's XML instead, and `paths` remembers which of the two this driver takes.
 */
export async function volumeCapacityAt(
  bus: LibvirtBus,
  volPath: string,
  lane: Lane = 'interactive',
  paths?: StoragePaths,
): Promise<number> {
  if (paths?.volumeInfo !== false) {
    try {
      const [[, capacity]] = (await bus.call(volPath, VOLUME, 'GetInfo', 'u', [0], { lane })) as [[number, number, number]];
      return capacity;
    } catch (err) {
      if (!(err instanceof LibvirtError && err.kind === 'UNSUPPORTED')) throw err;
      if (paths) paths.volumeInfo = false;
    }
  }
  return (await readVolume(bus, volPath, lane)).capacityBytes;
}

/** Capacity of the storage volume behind a disk source, or null when the source is no known volume. */
export async function volumeCapacity(
  bus: LibvirtBus,
  driverPath: string,
  source: { path: string | null; pool: string | null; volume: string | null },
  lane: Lane,
  paths?: StoragePaths,
): Promise<number | null> {
  try {
    let volPath: string;
    if (source.pool && source.volume) {
      if (paths) {
        const created = paths.takeCreatedCapacity(source.pool, source.volume);
        if (created !== undefined) return created;
        try {
          return await volumeCapacityAt(bus, await paths.volume(source.pool, source.volume, lane), lane, paths);
        } catch {
          // Maybe a stale path: once more with both looked up afresh.
          paths.forgetVolume(source.pool, source.volume);
          paths.forgetPool(source.pool);
        }
      }
      volPath = paths
        ? await paths.volume(source.pool, source.volume, lane)
        : await lookupVolume(bus, await lookupPool(bus, driverPath, source.pool, lane), source.volume, lane);
    } else if (source.path) {
      volPath = await lookupVolumeByPath(bus, driverPath, source.path, lane);
    } else {
      return null;
    }
    return await volumeCapacityAt(bus, volPath, lane, paths);
  } catch {
    // A disk whose file is in no pool has no volume to ask; its capacity is simply unknown here.
    return null;
  }
}
