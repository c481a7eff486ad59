import type { DomainDisk, DomainGraphics, DomainInterface, DomainMetadata } from '../types.js';
import { attr, child, children, parseXml, text } from './parser.js';

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
  b: 1 / 1024, bytes: 1 / 1024, k: 1, kib: 1, kb: 1000 / 1024, m: 1024, mib: 1024, mb: 1e6 / 1024,
  g: 1024 ** 2, gib: 1024 ** 2, gb: 1e9 / 1024, t: 1024 ** 3, tib: 1024 ** 3, tb: 1e12 / 1024,
};

function memoryMiB(node: unknown): number {
  const value = Number(text(node) ?? 0);
  const unit = (attr(node, 'unit') ?? 'KiB').toLowerCase();
  return Math.round((value * (KIB_PER_UNIT[unit] ?? 1)) / 1024);
}

export function parseDomainXml(xml: string): ParsedDomainXml {
  const domain = child(parseXml(xml), 'domain');
  if (!domain) throw new Error('not a domain XML document');
  const devices = child(domain, 'devices');
  const metadata = child(domain, 'metadata');
  const ours = metadata && Object.entries(metadata).find(([k]) => k.endsWith(':instance') || k === 'instance');
  const owner = ours ? child(ours[1], `${ours[0].split(':')[0]}:owner`) ?? child(ours[1], 'owner') : undefined;

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
    metadata: { ownerId: owner ? attr(owner, 'id') ?? text(owner) : null },
  };
}
