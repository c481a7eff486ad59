import type { NetworkAddress, NetworkForwardMode, NetworkSpec } from '../../model/index.js';
import { buildXml } from './builder.js';
import { ATTR, attr, child, children, parseXml, text, type XmlNode } from './parser.js';

export interface ParsedNetworkXml {
  uuid: string;
  name: string;
  forwardMode: NetworkForwardMode;
  forwardDevice: string | null;
  bridge: string | null;
  ipv4: NetworkAddress | null;
  ipv6: NetworkAddress | null;
}

const FORWARD_MODES: Record<string, NetworkForwardMode> = { nat: 'NAT', route: 'ROUTE', open: 'OPEN', bridge: 'BRIDGE' };

function prefixFromNetmask(netmask: string): number {
  return netmask.split('.').reduce((bits, octet) => bits + Number(octet).toString(2).replace(/0/g, '').length, 0);
}

export function parseNetworkXml(xml: string): ParsedNetworkXml {
  const network = child(parseXml(xml), 'network');
  if (!network) throw new Error('not a network XML document');
  const forward = child(network, 'forward');
  const mode = forward ? (attr(forward, 'mode') ?? 'nat') : null;
  const ips = children(network, 'ip').map((ip): [string, NetworkAddress] => {
    const family = attr(ip, 'family') ?? ((attr(ip, 'address') ?? '').includes(':') ? 'ipv6' : 'ipv4');
    const netmask = attr(ip, 'netmask');
    const dhcp = child(ip, 'dhcp');
    return [
      family,
      {
        address: attr(ip, 'address') ?? '',
        prefix: Number(attr(ip, 'prefix') ?? (netmask ? prefixFromNetmask(netmask) : family === 'ipv6' ? 64 : 24)),
        dhcpRanges: children(dhcp, 'range').map((r) => ({ start: attr(r, 'start') ?? '', end: attr(r, 'end') ?? '' })),
        dhcpHosts: children(dhcp, 'host').map((h) => ({ mac: attr(h, 'mac'), name: attr(h, 'name'), ip: attr(h, 'ip') ?? '' })),
      },
    ];
  });
  return {
    uuid: text(child(network, 'uuid')) ?? '',
    name: text(child(network, 'name')) ?? '',
    forwardMode: mode === null ? 'ISOLATED' : (FORWARD_MODES[mode] ?? 'OTHER'),
    forwardDevice: forward ? attr(forward, 'dev') : null,
    bridge: attr(child(network, 'bridge'), 'name'),
    ipv4: ips.find(([f]) => f === 'ipv4')?.[1] ?? null,
    ipv6: ips.find(([f]) => f === 'ipv6')?.[1] ?? null,
  };
}

/**
 * libvirt network XML for a spec, in libvirt's own format (as `virsh net-dumpxml` prints it). Values are
 * escaped by the builder; the service validates them before they get here.
 */
export function buildNetworkXml(spec: NetworkSpec): string {
  const network: XmlNode = { name: spec.name };
  if (spec.forwardMode !== 'ISOLATED') {
    const forward: XmlNode = { [`${ATTR}mode`]: spec.forwardMode.toLowerCase() };
    // An open network forwards through whatever the routing table says; libvirt takes no device for it.
    if (spec.forwardDevice && spec.forwardMode !== 'OPEN') {
      forward[`${ATTR}dev`] = spec.forwardDevice;
      forward.interface = { [`${ATTR}dev`]: spec.forwardDevice };
    }
    network.forward = forward;
  }
  network.bridge = { [`${ATTR}name`]: spec.bridge, [`${ATTR}stp`]: 'on', [`${ATTR}delay`]: '0' };
  const ips: XmlNode[] = [];
  if (spec.ipv4) {
    const ip: XmlNode = { [`${ATTR}address`]: spec.ipv4.address, [`${ATTR}prefix`]: String(spec.ipv4.prefix) };
    if (spec.ipv4.dhcpRange) ip.dhcp = { range: { [`${ATTR}start`]: spec.ipv4.dhcpRange.start, [`${ATTR}end`]: spec.ipv4.dhcpRange.end } };
    ips.push(ip);
  }
  if (spec.ipv6)
    ips.push({ [`${ATTR}family`]: 'ipv6', [`${ATTR}address`]: spec.ipv6.address, [`${ATTR}prefix`]: String(spec.ipv6.prefix) });
  if (ips.length) network.ip = ips;
  return buildXml({ network });
}

/** One `<host>` of a network's DHCP section: pins a MAC to an IPv4 address (virNetworkUpdate ip-dhcp-host). */
export function buildDhcpHostXml(host: { mac: string; ip: string }): string {
  return buildXml({ host: { [`${ATTR}mac`]: host.mac, [`${ATTR}ip`]: host.ip } }).trim();
}
