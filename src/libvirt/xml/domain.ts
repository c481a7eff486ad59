import type {
  DiskSource,
  DomainDisk,
  DomainGraphics,
  DomainInterface,
  DomainMetadata,
  DomainSpec,
  GraphicsType,
} from '../../model/index.js';
import { attr, child, children, parseXml, text, type XmlNode } from './parser.js';

/** Namespace of the `<metadata>` element virtplane owns in each domain it manages. */
export const METADATA_NAMESPACE = 'https://virtplane.dev/xmlns/domain/1';
export const METADATA_PREFIX = 'virtplane';

export interface ParsedDomainXml {
  uuid: string;
  name: string;
  vcpus: number;
  memoryMiB: number;
  interfaces: DomainInterface[];
  disks: Omit<DomainDisk, 'capacityBytes'>[];
  graphics: DomainGraphics[];
  metadata: DomainMetadata;
}

const KIB_PER_UNIT: Record<string, number> = {
  b: 1 / 1024,
  bytes: 1 / 1024,
  k: 1,
  kib: 1,
  kb: 1000 / 1024,
  m: 1024,
  mib: 1024,
  mb: 1e6 / 1024,
  g: 1024 ** 2,
  gib: 1024 ** 2,
  gb: 1e9 / 1024,
  t: 1024 ** 3,
  tib: 1024 ** 3,
  tb: 1e12 / 1024,
};

function memoryMiB(node: unknown): number {
  const value = Number(text(node) ?? 0);
  const unit = (attr(node, 'unit') ?? 'KiB').toLowerCase();
  return Math.round((value * (KIB_PER_UNIT[unit] ?? 1)) / 1024);
}

/**
 * Our `<instance><owner id=…/></instance>` inside `<metadata>`, recognised by its namespace, not its prefix:
 * another application's `<x:instance>` must never decide who owns a domain (ownership is visibility).
 */
function ownerElement(metadata: XmlNode | undefined, element = 'owner'): XmlNode | undefined {
  if (!metadata) return undefined;
  for (const [key, value] of Object.entries(metadata)) {
    const [prefix, local] = key.includes(':') ? key.split(':', 2) : [null, key];
    if (local !== 'instance') continue;
    if (attr(value, prefix ? `xmlns:${prefix}` : 'xmlns') !== METADATA_NAMESPACE) continue;
    return child(value, prefix ? `${prefix}:${element}` : element);
  }
  return undefined;
}

export function parseDomainXml(xml: string): ParsedDomainXml {
  const domain = child(parseXml(xml), 'domain');
  if (!domain) throw new Error('not a domain XML document');
  const devices = child(domain, 'devices');
  const metadata = child(domain, 'metadata');
  const owner = ownerElement(metadata);

  return {
    uuid: text(child(domain, 'uuid')) ?? '',
    name: text(child(domain, 'name')) ?? '',
    vcpus: Number(text(child(domain, 'vcpu')) ?? 0),
    memoryMiB: memoryMiB(child(domain, 'currentMemory') ?? child(domain, 'memory')),
    interfaces: children(devices, 'interface').map((i) => ({
      type: attr(i, 'type') ?? 'unknown',
      mac: attr(child(i, 'mac'), 'address'),
      model: attr(child(i, 'model'), 'type'),
      network: attr(child(i, 'source'), 'network'),
      bridge: attr(child(i, 'source'), 'bridge'),
    })),
    disks: children(devices, 'disk').map((d) => {
      const source = child(d, 'source');
      return {
        device: attr(d, 'device') ?? 'disk',
        target: attr(child(d, 'target'), 'dev') ?? '',
        bus: attr(child(d, 'target'), 'bus'),
        source: attr(source, 'file') ?? attr(source, 'dev') ?? attr(source, 'volume') ?? attr(source, 'name'),
        pool: attr(source, 'pool'),
        volume: attr(source, 'volume'),
      };
    }),
    graphics: children(devices, 'graphics').map((g) => {
      const port = Number(attr(g, 'port'));
      return {
        type: (attr(g, 'type') ?? 'unknown').toUpperCase(),
        listen: attr(g, 'listen') ?? attr(children(g, 'listen')[0] ?? child(g, 'listen'), 'address'),
        port: Number.isFinite(port) && port > 0 ? port : null,
      };
    }),
    metadata: { ownerId: owner ? (attr(owner, 'id') ?? text(owner)) : null, name: text(ownerElement(metadata, 'name')) ?? null },
  };
}

function diskSource(disk: unknown): DiskSource | null {
  const source = child(disk, 'source');
  if (!source) return null;
  const pool = attr(source, 'pool');
  const volume = attr(source, 'volume');
  if (pool !== null && volume !== null) return { type: 'volume', pool, volume };
  const file = attr(source, 'file');
  if (file !== null) return { type: 'file', path: file };
  const dev = attr(source, 'dev');
  if (dev !== null) return { type: 'block', path: dev };
  return null;
}

/**
 * Reads a domain's XML back into the spec it was built from (xml/domain-builder.ts). Only what the spec
 * describes is read; what libvirt adds (controllers, video, addresses, an expanded host-model CPU of a running
 * guest — read the inactive XML for the spec) is ignored. The graphics password is there only in XML fetched
 * with the secure flag; otherwise it reads as ''.
 */
export function parseDomainSpec(xml: string): DomainSpec {
  const domain = child(parseXml(xml), 'domain');
  if (!domain) throw new Error('not a domain XML document');
  const parsed = parseDomainXml(xml);
  const devices = child(domain, 'devices');
  const diskNodes = children(devices, 'disk');
  const title = text(child(domain, 'title'));
  const partition = text(child(child(domain, 'resource'), 'partition'));
  const cpuMode = attr(child(domain, 'cpu'), 'mode');
  const cdrom = diskNodes.find((d) => attr(d, 'device') === 'cdrom');
  const graphics = children(devices, 'graphics')[0];
  const serial = children(devices, 'serial')[0];
  const serialSocket = attr(serial, 'type') === 'unix' ? attr(child(serial, 'source'), 'path') : null;
  const type = attr(domain, 'type');

  const spec: DomainSpec = {
    type: type === 'kvm' || type === 'test' ? type : 'qemu',
    name: parsed.name,
    uuid: parsed.uuid,
    ...(title !== null ? { title } : {}),
    vcpus: parsed.vcpus,
    memoryMiB: parsed.memoryMiB,
    ...(cpuMode === 'host-model' || cpuMode === 'host-passthrough' || cpuMode === 'maximum' ? { cpuMode } : {}),
    disks: diskNodes
      .filter((d) => (attr(d, 'device') ?? 'disk') === 'disk')
      .flatMap((d) => {
        const source = diskSource(d);
        const format = attr(child(d, 'driver'), 'type');
        return source ? [{ source, format: format === 'qcow2' ? 'qcow2' : 'raw' } as const] : [];
      }),
    ...(cdrom ? { cdrom: { source: diskSource(cdrom) } } : {}),
    interfaces: children(devices, 'interface')
      .filter((i) => attr(i, 'type') === 'network')
      .map((i) => {
        const ref = child(i, 'filterref');
        const parameters = children(ref, 'parameter').map((p) => ({ name: attr(p, 'name') ?? '', value: attr(p, 'value') ?? '' }));
        return {
          network: attr(child(i, 'source'), 'network') ?? '',
          mac: attr(child(i, 'mac'), 'address') ?? '',
          ...(ref ? { filterref: { filter: attr(ref, 'filter') ?? '', ...(parameters.length ? { parameters } : {}) } } : {}),
        };
      }),
    ...(graphics && ['vnc', 'spice'].includes(attr(graphics, 'type') ?? '')
      ? { graphics: { type: attr(graphics, 'type') === 'spice' ? 'SPICE' : 'VNC', password: attr(graphics, 'passwd') ?? '' } as const }
      : {}),
    ownerId: parsed.metadata.ownerId ?? '',
    ...(parsed.metadata.name ? { tenantName: parsed.metadata.name } : {}),
    ...(partition !== null ? { partition } : {}),
    ...(serialSocket !== null ? { serialSocket } : {}),
  };
  return spec;
}

/** A graphics console with its secret: only ever read from XML fetched with the secure flag. */
export interface ConsoleGraphics {
  type: GraphicsType;
  listen: string | null;
  /** null until the guest runs (autoport). */
  port: number | null;
  password: string | null;
}

export function parseConsoleGraphics(xml: string): ConsoleGraphics | null {
  const devices = child(child(parseXml(xml), 'domain'), 'devices');
  const g = children(devices, 'graphics').find((x) => ['vnc', 'spice'].includes(attr(x, 'type') ?? ''));
  if (!g) return null;
  const port = Number(attr(g, 'port'));
  return {
    type: attr(g, 'type') === 'spice' ? 'SPICE' : 'VNC',
    listen: attr(g, 'listen') ?? attr(child(g, 'listen'), 'address'),
    port: Number.isInteger(port) && port > 0 ? port : null,
    password: attr(g, 'passwd'),
  };
}
