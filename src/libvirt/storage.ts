import type { Lane, LibvirtBus } from './bus.js';

const CONNECT = 'org.libvirt.Connect';
const VOLUME = 'org.libvirt.StorageVol';
const POOL = 'org.libvirt.StoragePool';

/** Capacity of the storage volume behind a disk source, or null when the source is no known volume. */
export async function volumeCapacity(
  bus: LibvirtBus,
  driverPath: string,
  source: { path: string | null; pool: string | null; volume: string | null },
  lane: Lane,
): Promise<number | null> {
  try {
    let volPath: string;
    if (source.pool && source.volume) {
      const [poolPath] = await bus.call(driverPath, CONNECT, 'StoragePoolLookupByName', 's', [source.pool], { lane });
      [volPath] = (await bus.call(poolPath as string, POOL, 'StorageVolLookupByName', 's', [source.volume], { lane })) as [string];
    } else if (source.path) {
      [volPath] = (await bus.call(driverPath, CONNECT, 'StorageVolLookupByPath', 's', [source.path], { lane })) as [string];
    } else {
      return null;
    }
    const [[, capacity]] = (await bus.call(volPath, VOLUME, 'GetInfo', 'u', [0], { lane })) as [[number, number, number]];
    return capacity;
  } catch {
    // A disk whose file is in no pool has no volume to ask; its capacity is simply unknown here.
    return null;
  }
}
