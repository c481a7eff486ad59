import { basename, dirname, normalize } from 'node:path';
import { propertyText, type Lane, type LibvirtBus } from './bus.js';
import { POOL_STATES, type PoolSpec } from '../model/index.js';
import { LibvirtError } from './errors.js';
import { buildPoolXml, buildVolumeXml, parsePoolXml, parseVolumeXml, type VolumeSpec } from './xml/storage.js';

const CONNECT = 'org.libvirt.Connect';
const VOLUME = 'org.libvirt.StorageVol';
const POOL = 'org.libvirt.StoragePool';

/** virStoragePoolBuildFlags / virStorageVolResizeFlags used here. */
export const VIR_STORAGE_POOL_BUILD_NEW = 0;
export const VIR_STORAGE_VOL_RESIZE_SHRINK = 4;
/** virStoragePoolBuildFlags: fail instead of overwriting what the devices hold (logical pools). */
export const VIR_STORAGE_POOL_BUILD_NO_OVERWRITE = 4;

export interface PoolRecord {
  /** libvirt-dbus object path of the pool. */
  path: string;
  name: string;
  uuid: string;
  type: string;
  state: (typeof POOL_STATES)[number];
  active: boolean;
  persistent: boolean;
  autostart: boolean;
  /** Directory (dir) or /dev/<vg> (logical). */
  targetPath: string | null;
  sourceName: string | null;
  sourceDevices: string[];
  capacityBytes: number;
  allocationBytes: number;
  availableBytes: number;
}

export interface VolumeRecord {
  /** libvirt-dbus object path of the volume. */
  path: string;
  name: string;
  key: string | null;
  /** The file or block device that backs the volume on the host. */
  targetPath: string | null;
  format: string | null;
  capacityBytes: number;
  allocationBytes: number;
}

export async function lookupPool(bus: LibvirtBus, driverPath: string, name: string, lane: Lane = 'interactive'): Promise<string> {
  const [path] = await bus.call(driverPath, CONNECT, 'StoragePoolLookupByName', 's', [name], { lane });
  return path as string;
}

export async function lookupPoolByUuid(bus: LibvirtBus, driverPath: string, uuid: string, lane: Lane = 'interactive'): Promise<string> {
  const [path] = await bus.call(driverPath, CONNECT, 'StoragePoolLookupByUUID', 's', [uuid], { lane });
  return path as string;
}

export async function listPools(bus: LibvirtBus, driverPath: string, lane: Lane = 'bulk'): Promise<string[]> {
  const [paths] = await bus.call(driverPath, CONNECT, 'ListStoragePools', 'u', [0], { lane });
  return paths as string[];
}

/** Defines a persistent pool (inactive, unbuilt); returns its object path. */
export async function definePool(bus: LibvirtBus, driverPath: string, spec: PoolSpec): Promise<string> {
  const [path] = await bus.call(driverPath, CONNECT, 'StoragePoolDefineXML', 'su', [buildPoolXml(spec), 0]);
  return path as string;
}

/** Makes the pool's backing store: the directory (dir), or pvcreate + vgcreate on its devices (logical). */
export async function buildPool(bus: LibvirtBus, poolPath: string, flags = VIR_STORAGE_POOL_BUILD_NEW): Promise<void> {
  await bus.call(poolPath, POOL, 'Build', 'u', [flags]);
}

export async function startPool(bus: LibvirtBus, poolPath: string): Promise<void> {
  await bus.call(poolPath, POOL, 'Create', 'u', [0]);
}

export async function stopPool(bus: LibvirtBus, poolPath: string): Promise<void> {
  await bus.call(poolPath, POOL, 'Destroy');
}

/** Removes the pool's backing store (the directory, or the volume group); the pool must be inactive. */
export async function deletePoolStorage(bus: LibvirtBus, poolPath: string): Promise<void> {
  await bus.call(poolPath, POOL, 'Delete', 'u', [0]);
}

export async function undefinePool(bus: LibvirtBus, poolPath: string): Promise<void> {
  await bus.call(poolPath, POOL, 'Undefine');
}

/** Rescans the pool so files placed in it by hand become volumes. */
export async function refreshPool(bus: LibvirtBus, poolPath: string): Promise<void> {
  await bus.call(poolPath, POOL, 'Refresh', 'u', [0]);
}

export async function setPoolAutostart(bus: LibvirtBus, poolPath: string, autostart: boolean): Promise<void> {
  await bus.setProperty(poolPath, POOL, 'Autostart', 'b', autostart);
}

export async function readPool(bus: LibvirtBus, poolPath: string, lane: Lane = 'interactive'): Promise<PoolRecord> {
  const [props, [info], [xml]] = await Promise.all([
    bus.getAllProperties(poolPath, POOL, lane),
    bus.call(poolPath, POOL, 'GetInfo', '', [], { lane }),
    bus.call(poolPath, POOL, 'GetXMLDesc', 'u', [0], { lane }),
  ]);
  const [state, capacity, allocation, available] = info as [number, number, number, number];
  const parsed = parsePoolXml(xml as string);
  return {
    path: poolPath,
    name: propertyText(props.Name) ?? parsed.name,
    uuid: propertyText(props.UUID) ?? parsed.uuid,
    type: parsed.type,
    state: POOL_STATES[state] ?? 'INACCESSIBLE',
    active: props.Active === true,
    persistent: props.Persistent === true,
    autostart: props.Autostart === true,
    targetPath: parsed.targetPath,
    sourceName: parsed.sourceName,
    sourceDevices: parsed.sourceDevices,
    capacityBytes: capacity,
    allocationBytes: allocation,
    availableBytes: available,
  };
}

export async function getPoolXml(bus: LibvirtBus, poolPath: string): Promise<string> {
  const [xml] = await bus.call(poolPath, POOL, 'GetXMLDesc', 'u', [0]);
  return xml as string;
}

/**
 * The pool named in `spec`, made ready for volumes: defined if missing, built and started if inactive, and
 * set to autostart. Idempotent; returns the pool's object path.
 */
export async function ensurePool(
  bus: LibvirtBus,
  driverPath: string,
  spec: PoolSpec,
  hooks: { beforeDefine?(): void } = {},
): Promise<string> {
  let poolPath: string;
  try {
    poolPath = await lookupPool(bus, driverPath, spec.name);
  } catch (err) {
    if (!(err instanceof LibvirtError && err.kind === 'NOT_FOUND')) throw err;
    hooks.beforeDefine?.();
    poolPath = await definePool(bus, driverPath, spec);
  }
  const pool = await readPool(bus, poolPath);
  if (!pool.active) {
    try {
      await startPool(bus, poolPath);
    } catch {
      // Not built yet (no directory, no volume group): build it, then start.
      await buildPool(bus, poolPath);
      await startPool(bus, poolPath);
    }
  }
  if (pool.persistent && !pool.autostart) await setPoolAutostart(bus, poolPath, true);
  return poolPath;
}

export async function listVolumes(bus: LibvirtBus, poolPath: string, lane: Lane = 'interactive'): Promise<string[]> {
  const [paths] = await bus.call(poolPath, POOL, 'ListStorageVolumes', 'u', [0], { lane });
  return paths as string[];
}

/**
 * Creates a volume in an active pool (the pool's type decides whether a format applies; pass it when known to
 * save a round trip); returns its object path.
 */
export async function createVolume(bus: LibvirtBus, poolPath: string, spec: VolumeSpec, poolType?: string): Promise<string> {
  const type = poolType ?? parsePoolXml(await getPoolXml(bus, poolPath)).type;
  const [path] = await bus.call(poolPath, POOL, 'StorageVolCreateXML', 'su', [buildVolumeXml(spec, type), 0]);
  return path as string;
}

export async function lookupVolume(bus: LibvirtBus, poolPath: string, name: string, lane: Lane = 'interactive'): Promise<string> {
  const [path] = await bus.call(poolPath, POOL, 'StorageVolLookupByName', 's', [name], { lane });
  return path as string;
}

/** The volume whose file or device is `hostPath`, in whichever pool holds it. */
export async function lookupVolumeByPath(
  bus: LibvirtBus,
  driverPath: string,
  hostPath: string,
  lane: Lane = 'interactive',
): Promise<string> {
  const [path] = await bus.call(driverPath, CONNECT, 'StorageVolLookupByPath', 's', [hostPath], { lane });
  return path as string;
}

/** Read from the volume's XML: the test driver lacks virStorageVolGetInfoFlags, which GetInfo calls. */
export async function readVolume(bus: LibvirtBus, volPath: string, lane: Lane = 'interactive'): Promise<VolumeRecord> {
  const [xml] = await bus.call(volPath, VOLUME, 'GetXMLDesc', 'u', [0], { lane });
  const parsed = parseVolumeXml(xml as string);
  return {
    path: volPath,
    name: parsed.name,
    key: parsed.key,
    targetPath: parsed.path,
    format: parsed.format,
    capacityBytes: parsed.capacityBytes,
    allocationBytes: parsed.allocationBytes,
  };
}

export async function getVolumeXml(bus: LibvirtBus, volPath: string): Promise<string> {
  const [xml] = await bus.call(volPath, VOLUME, 'GetXMLDesc', 'u', [0]);
  return xml as string;
}

export async function deleteVolume(bus: LibvirtBus, volPath: string): Promise<void> {
  await bus.call(volPath, VOLUME, 'Delete', 'u', [0]);
}

/** Sets a new capacity. Growing is the default; shrinking must be asked for (it can destroy guest data). */
export async function resizeVolume(
  bus: LibvirtBus,
  volPath: string,
  capacityBytes: number,
  opts: { shrink?: boolean } = {},
): Promise<void> {
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) throw new RangeError('capacityBytes must be a positive integer');
  await bus.call(volPath, VOLUME, 'Resize', 'tu', [BigInt(capacityBytes), opts.shrink ? VIR_STORAGE_VOL_RESIZE_SHRINK : 0]);
}

/**
 * The volume whose file is `hostPath`, looked for only in the pools named (all pools when none are named)
 * whose directory holds it. The pool is refreshed first, so a file copied in by hand is found; null when no
 * such pool holds such a file.
 */
export async function findVolumeInPools(
  bus: LibvirtBus,
  driverPath: string,
  hostPath: string,
  poolNames: string[],
): Promise<VolumeRecord | null> {
  const file = normalize(hostPath);
  const poolPaths = poolNames.length
    ? (await Promise.all(poolNames.map((n) => lookupPool(bus, driverPath, n).catch(() => null)))).filter((p): p is string => p !== null)
    : await listPools(bus, driverPath, 'interactive');
  for (const poolPath of poolPaths) {
    let pool: PoolRecord;
    try {
      pool = await readPool(bus, poolPath);
    } catch (err) {
      if (err instanceof LibvirtError && err.kind === 'NOT_FOUND') continue; // undefined since it was listed
      throw err;
    }
    if (!pool.active || pool.type !== 'dir' || !pool.targetPath || normalize(pool.targetPath) !== dirname(file)) continue;
    await refreshPool(bus, poolPath);
    try {
      return await readVolume(bus, await lookupVolume(bus, poolPath, basename(file)));
    } catch (err) {
      if (!(err instanceof LibvirtError && err.kind === 'NOT_FOUND')) throw err;
    }
  }
  return null;
}
