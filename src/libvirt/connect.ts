import type { Lane, LibvirtBus } from './bus.js';
import { domainStateName } from './constants.js';
import type { DomainState, HostInfo } from '../model/index.js';
import { attr, child, children, parseXml, text } from './xml/parser.js';

const CONNECT = 'org.libvirt.Connect';

/** libvirt packs versions as major * 1e6 + minor * 1e3 + release. */
export function formatLibvirtVersion(packed: number): string {
  return `${Math.floor(packed / 1e6)}.${Math.floor((packed % 1e6) / 1e3)}.${packed % 1e3}`;
}

export async function listDomainPaths(bus: LibvirtBus, driverPath: string, lane: Lane = 'bulk'): Promise<string[]> {
  const [paths] = await bus.call(driverPath, CONNECT, 'ListDomains', 'u', [0], { lane });
  return paths as string[];
}

export async function listNetworkPaths(bus: LibvirtBus, driverPath: string, lane: Lane = 'bulk'): Promise<string[]> {
  const [paths] = await bus.call(driverPath, CONNECT, 'ListNetworks', 'u', [0], { lane });
  return paths as string[];
}

export async function lookupDomainByUUID(bus: LibvirtBus, driverPath: string, uuid: string): Promise<string> {
  const [path] = await bus.call(driverPath, CONNECT, 'DomainLookupByUUID', 's', [uuid]);
  return path as string;
}

export async function defineDomainXML(bus: LibvirtBus, driverPath: string, xml: string): Promise<string> {
  const [path] = await bus.call(driverPath, CONNECT, 'DomainDefineXML', 's', [xml]);
  return path as string;
}

/** Cheapest round trip that proves libvirt answers on this driver. */
export async function ping(bus: LibvirtBus, driverPath: string): Promise<void> {
  await bus.getProperty(driverPath, CONNECT, 'Version');
}

export async function readHostInfo(bus: LibvirtBus, driverPath: string): Promise<HostInfo> {
  const [hostname, libVersion, [cpuMap], [capsXml]] = await Promise.all([
    bus.getProperty(driverPath, CONNECT, 'Hostname'),
    bus.getProperty(driverPath, CONNECT, 'LibVersion'),
    bus.call(driverPath, CONNECT, 'NodeGetCPUMap', 'u', [0]),
    bus.call(driverPath, CONNECT, 'GetCapabilities'),
  ]);
  const cells = children(child(child(child(parseXml(capsXml as string), 'capabilities'), 'host'), 'topology'), 'cells');
  const memoryKiB = cells.flatMap((c) => children(c, 'cell')).reduce((sum, cell) => sum + Number(text(child(cell, 'memory')) ?? 0), 0);
  return {
    hostname: String(hostname),
    libvirtVersion: formatLibvirtVersion(Number(libVersion)),
    cpus: (cpuMap as boolean[]).length,
    memoryMiB: Math.round(memoryKiB / 1024),
  };
}

const VIR_DOMAIN_STATS_STATE = 1;

/** Every domain's state in one call (GetAllDomainStats, state group only), keyed by domain *name*. */
export async function domainStatesByName(bus: LibvirtBus, driverPath: string, lane: Lane = 'bulk'): Promise<Map<string, DomainState>> {
  const [records] = await bus.call(driverPath, CONNECT, 'GetAllDomainStats', 'uu', [VIR_DOMAIN_STATS_STATE, 0], { lane });
  const out = new Map<string, DomainState>();
  for (const [name, stats] of records as [string, Record<string, unknown>][]) out.set(name, domainStateName(Number(stats['state.state'])));
  return out;
}

/** The domain types (`kvm`, `qemu`, …) libvirt offers for x86_64 guests on this host, from its capabilities. */
export async function hostDomainTypes(bus: LibvirtBus, driverPath: string): Promise<string[]> {
  const [capsXml] = await bus.call(driverPath, CONNECT, 'GetCapabilities');
  const guests = children(child(parseXml(capsXml as string), 'capabilities'), 'guest');
  const types = new Set<string>();
  for (const g of guests) {
    const arch = child(g, 'arch');
    if (attr(arch, 'name') !== 'x86_64') continue;
    for (const d of children(arch, 'domain')) {
      const t = attr(d, 'type');
      if (t) types.add(t);
    }
  }
  return [...types];
}
