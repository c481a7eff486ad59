import type { PoolSpec } from '../../model/index.js';
import { a, buildXml, xmlSafe } from './builder.js';
import { attr, child, children, parseXml, text } from './parser.js';

export type VolumeFormat = 'raw' | 'qcow2';

export interface VolumeSpec {
  name: string;
  capacityBytes: number;
  /** File format in a `dir` pool; ignored (always raw) in a `logical` pool. Default raw. */
  format?: VolumeFormat;
  /** Bytes to allocate up front; default 0 (sparse) in a dir pool, the whole capacity in a logical pool. */
  allocationBytes?: number;
}

export function buildPoolXml(spec: PoolSpec): string {
  const name = xmlSafe(spec.name, 'pool name');
  if (spec.type === 'dir') {
    return buildXml({ pool: { [a('type')]: 'dir', name, target: { path: xmlSafe(spec.targetPath, 'pool path') } } });
  }
  const vg = xmlSafe(spec.vgName ?? spec.name, 'volume group');
  return buildXml({
    pool: {
      [a('type')]: 'logical',
      name,
      source: {
        device: spec.devices.length ? spec.devices.map((d) => ({ [a('path')]: xmlSafe(d, 'device path') })) : undefined,
        name: vg,
        format: { [a('type')]: 'lvm2' },
      },
      target: { path: xmlSafe(spec.targetPath ?? `/dev/${vg}`, 'pool path') },
    },
  });
}

/** `poolType` decides whether a format is written: LVM volumes have none. */
export function buildVolumeXml(spec: VolumeSpec, poolType: string): string {
  if (!Number.isSafeInteger(spec.capacityBytes) || spec.capacityBytes <= 0)
    throw new RangeError('capacityBytes must be a positive integer');
  return buildXml({
    volume: {
      name: xmlSafe(spec.name, 'volume name'),
      capacity: { [a('unit')]: 'bytes', '#text': spec.capacityBytes },
      // An LV with allocation below capacity becomes a sparse snapshot LV; guest disks are plain, full LVs.
      allocation: { [a('unit')]: 'bytes', '#text': spec.allocationBytes ?? (poolType === 'logical' ? spec.capacityBytes : 0) },
      target: poolType === 'logical' ? undefined : { format: { [a('type')]: spec.format ?? 'raw' } },
    },
  });
}

export interface ParsedPoolXml {
  name: string;
  uuid: string;
  type: string;
  targetPath: string | null;
  /** logical pools: the volume group and its physical volumes. */
  sourceName: string | null;
  sourceDevices: string[];
  sourceFormat: string | null;
}

export function parsePoolXml(xml: string): ParsedPoolXml {
  const pool = child(parseXml(xml), 'pool');
  if (!pool) throw new Error('not a storage pool XML document');
  const source = child(pool, 'source');
  return {
    name: text(child(pool, 'name')) ?? '',
    uuid: text(child(pool, 'uuid')) ?? '',
    type: attr(pool, 'type') ?? '',
    targetPath: text(child(child(pool, 'target'), 'path')),
    sourceName: text(child(source, 'name')),
    sourceDevices: children(source, 'device').flatMap((d) => attr(d, 'path') ?? []),
    sourceFormat: attr(child(source, 'format'), 'type'),
  };
}

export interface ParsedVolumeXml {
  name: string;
  key: string | null;
  path: string | null;
  format: string | null;
  capacityBytes: number;
  allocationBytes: number;
}

const BYTES_PER_UNIT: Record<string, number> = {
  b: 1,
  bytes: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1e6,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1e9,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1e12,
};

function bytes(node: unknown): number {
  const unit = (attr(node, 'unit') ?? 'bytes').toLowerCase();
  return Number(text(node) ?? 0) * (BYTES_PER_UNIT[unit] ?? 1);
}

export function parseVolumeXml(xml: string): ParsedVolumeXml {
  const vol = child(parseXml(xml), 'volume');
  if (!vol) throw new Error('not a storage volume XML document');
  const target = child(vol, 'target');
  return {
    name: text(child(vol, 'name')) ?? '',
    key: text(child(vol, 'key')),
    path: text(child(target, 'path')),
    format: attr(child(target, 'format'), 'type'),
    capacityBytes: bytes(child(vol, 'capacity')),
    allocationBytes: bytes(child(vol, 'allocation')),
  };
}
