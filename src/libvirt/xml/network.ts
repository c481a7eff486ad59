import type { NetworkAddress, NetworkForwardMode } from '../types.js';
import { attr, child, children, parseXml, text } from './parser.js';

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
