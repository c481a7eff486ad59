import type { DomainRecord, NetworkRecord } from '../../model/index.js';
import { eui64Address, formatIp } from './addresses.js';

// What IPAM tells of a NIC's addresses and how they reach the guest, read from the network as cached.

/** How a NIC's IPv4 reaches the guest: from the network's DHCP (pinned to its MAC), or configured by hand. */
export const IPV4_ASSIGNMENTS = ['DHCP', 'STATIC'] as const;
export type Ipv4Assignment = (typeof IPV4_ASSIGNMENTS)[number];
/**
 * How a NIC's IPv6 reaches the guest: SLAAC when it is the EUI-64 address of the NIC's MAC in the network's
 * /64 (what a guest autoconfiguring from the router advertisement forms by itself), else configured by hand.
 */
export const IPV6_ASSIGNMENTS = ['SLAAC', 'STATIC'] as const;
export type Ipv6Assignment = (typeof IPV6_ASSIGNMENTS)[number];

/** The addresses of one NIC, as IPAM keeps them. */
export interface NicAddresses {
  mac: string;
  networkUuid: string;
  domainUuid: string;
  ipv4: string | null;
  ipv6: string | null;
  /** Whether the network's DHCP hosts hold the IPv4 for this MAC (as libvirt last showed them, and our own pins since). */
  pinned: boolean;
  /** Null without an IPv4. DHCP exactly when pinned. */
  ipv4Assignment: Ipv4Assignment | null;
  /** Null without an IPv6. */
  ipv6Assignment: Ipv6Assignment | null;
}

/** The MAC's EUI-64 address in the network's IPv6 subnet when that is a /64 (SLAAC works only there), else null. */
export function slaacAddress(network: NetworkRecord | undefined, mac: string): string | null {
  if (!network?.ipv6 || network.ipv6.prefix !== 64) return null;
  const ip = eui64Address(network.ipv6.address, mac);
  return ip ? formatIp(ip) : null;
}

/** How each address of an allocation reaches its guest, from the network as cached. */
export function assignments(
  network: NetworkRecord | undefined,
  a: { mac: string; ipv4: string | null; ipv6: string | null; pinned: boolean },
) {
  return {
    ipv4Assignment: a.ipv4 ? (a.pinned ? 'DHCP' : 'STATIC') : null,
    // An allocation made before addresses followed the MAC (a sequential ::2 on a /64) stays valid, as STATIC.
    ipv6Assignment: a.ipv6 ? (a.ipv6 === slaacAddress(network, a.mac) ? 'SLAAC' : 'STATIC') : null,
  } as const;
}

export interface Lease extends NicAddresses {
  /** The domain, when it exists in libvirt and the viewer may see it. */
  domain: DomainRecord | null;
}

/** The network with (or without) the DHCP host `host` in its IPv4 section, as virNetworkUpdate left it. */
export function withDhcpHost(network: NetworkRecord, host: { mac: string; ip: string }, present: boolean): NetworkRecord {
  if (!network.ipv4) return network;
  const hosts = network.ipv4.dhcpHosts;
  const same = (h: { mac: string | null; ip: string }) => h.mac?.toLowerCase() === host.mac && h.ip === host.ip;
  if (hasDhcpHost(network, host.mac, host.ip) === present) return network; // a re-read committed before this already shows it
  const dhcpHosts = present ? [...hosts, { mac: host.mac, name: null, ip: host.ip }] : hosts.filter((h) => !same(h));
  return { ...network, ipv4: { ...network.ipv4, dhcpHosts } };
}

/** Each network copy's DHCP hosts as `mac|ip` keys, built once: copies are replaced, never changed. */
const dhcpHostKeys = new WeakMap<NetworkRecord, Set<string>>();

/** Whether the network (as cached) holds a DHCP host for this MAC and IPv4. Cheap: a domain list asks per NIC. */
export function hasDhcpHost(network: NetworkRecord | undefined, mac: string, ip: string | null): boolean {
  if (!ip || !network?.ipv4) return false;
  let keys = dhcpHostKeys.get(network);
  if (!keys) {
    keys = new Set(network.ipv4.dhcpHosts.map((h) => `${h.mac?.toLowerCase()}|${h.ip}`));
    dhcpHostKeys.set(network, keys);
  }
  return keys.has(`${mac}|${ip}`);
}
