import ipaddr from 'ipaddr.js';

/**
 * Address arithmetic for IPAM: the one place that turns IPv4/IPv6 text into numbers and back. Parsing is
 * ipaddr.js's; ranges are BigInt so IPv4 and IPv6 share one code path. Pure functions, no I/O.
 */
export type Family = 4 | 6;

export interface Ip {
  family: Family;
  value: bigint;
}

/** An inclusive range of addresses of one family. */
export interface IpRange {
  family: Family;
  first: bigint;
  last: bigint;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** Parses one address (no prefix, no zone); null when it is not an address. */
export function parseIp(text: string): Ip | null {
  if (typeof text !== 'string' || text.includes('%') || text.includes('/')) return null;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    if (ipaddr.IPv4.isValidFourPartDecimal(text)) addr = ipaddr.IPv4.parse(text);
    else if (ipaddr.IPv6.isValid(text)) addr = ipaddr.IPv6.parse(text);
    else return null;
  } catch {
    return null;
  }
  let value = 0n;
  for (const byte of addr.toByteArray()) value = (value << 8n) | BigInt(byte);
  return { family: addr.kind() === 'ipv4' ? 4 : 6, value };
}

/** The canonical text of an address: dotted quad, or RFC 5952 compressed IPv6. */
export function formatIp(ip: Ip): string {
  const bytes: number[] = [];
  let v = ip.value;
  for (let i = 0; i < BITS[ip.family] / 8; i++) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** Canonical text of an address given as text, or null when it is not one. */
export function canonicalIp(text: string): string | null {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : null;
}

export function isValidPrefix(family: Family, prefix: number): boolean {
  return Number.isInteger(prefix) && prefix >= 0 && prefix <= BITS[family];
}

/** The whole subnet `address/prefix` belongs to (network address to last address). */
export function subnetOf(ip: Ip, prefix: number): IpRange {
  const hostBits = BigInt(BITS[ip.family] - prefix);
  const size = 1n << hostBits;
  const first = (ip.value >> hostBits) << hostBits;
  return { family: ip.family, first, last: first + size - 1n };
}

export function rangeSize(r: IpRange): bigint {
  return r.last >= r.first ? r.last - r.first + 1n : 0n;
}

export function rangeWithin(inner: IpRange, outer: IpRange): boolean {
  return inner.family === outer.family && inner.first >= outer.first && inner.last <= outer.last;
}

export function overlaps(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/**
 * The addresses a subnet can give to guests when no DHCP range narrows it: every address but the network
 * address, the IPv4 broadcast address, and `exclude` (the host's own address on the network). IPv4 /31 and
 * /32 have no network or broadcast address (RFC 3021).
 */
export function hostRange(subnet: IpRange, prefix: number): IpRange {
  if (subnet.family === 4 && prefix >= 31) return subnet;
  if (subnet.family === 6 && prefix === 128) return subnet;
  return { family: subnet.family, first: subnet.first + 1n, last: subnet.family === 4 ? subnet.last - 1n : subnet.last };
}

/**
 * The first address of `ranges` (in order) that is neither `taken` nor `excluded`, or null when every one
 * is. Walks at most |taken| + |excluded| + 1 addresses, so a /64 costs no more than a /29.
 */
export function firstFree(ranges: readonly IpRange[], taken: ReadonlySet<bigint>, excluded: ReadonlySet<bigint> = new Set()): Ip | null {
  for (const r of ranges) {
    for (let v = r.first; v <= r.last; v++) {
      if (!taken.has(v) && !excluded.has(v)) return { family: r.family, value: v };
    }
  }
  return null;
}

/** How many addresses of `ranges` are neither taken nor excluded (ranges must not overlap each other). */
export function countFree(ranges: readonly IpRange[], taken: ReadonlySet<bigint>, excluded: ReadonlySet<bigint> = new Set()): bigint {
  let free = 0n;
  for (const r of ranges) {
    free += rangeSize(r);
    for (const v of new Set([...taken, ...excluded])) if (v >= r.first && v <= r.last) free--;
  }
  return free;
}

export interface Pool {
  ranges: IpRange[];
  excluded: Set<bigint>;
}

/**
 * The addresses IPAM hands out on one `<ip>` of a network: its DHCP ranges when it has any, else its host
 * range; never the host's own address. Null when the address or prefix is not usable.
 */
export function allocationPool(address: string, prefix: number, dhcpRanges: readonly { start: string; end: string }[] = []): Pool | null {
  const host = parseIp(address);
  if (!host || !isValidPrefix(host.family, prefix)) return null;
  const subnet = subnetOf(host, prefix);
  const ranges: IpRange[] = [];
  for (const r of dhcpRanges) {
    const start = parseIp(r.start);
    const end = parseIp(r.end);
    if (!start || !end || start.family !== host.family || end.family !== host.family) continue;
    const range = { family: host.family, first: start.value, last: end.value };
    if (rangeSize(range) > 0n && rangeWithin(range, subnet)) ranges.push(range);
  }
  if (ranges.length === 0) ranges.push(hostRange(subnet, prefix));
  return { ranges, excluded: new Set([host.value]) };
}

const MAC_TEXT = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

/**
 * The address SLAAC gives a NIC in the /64 `address` belongs to when the guest forms its interface identifier
 * from its MAC (modified EUI-64, RFC 4291 appendix A: ff:fe in the middle, the universal/local bit flipped),
 * as iPXE, the Linux kernel's default and most installers do. Null when `address` is not IPv6 or `mac` not a MAC.
 */
export function eui64Address(address: string, mac: string): Ip | null {
  const ip = parseIp(address);
  if (!ip || ip.family !== 6 || !MAC_TEXT.test(mac)) return null;
  const b = mac.split(':').map((h) => parseInt(h, 16));
  const iid = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!].reduce((v, byte) => (v << 8n) | BigInt(byte), 0n);
  return { family: 6, value: subnetOf(ip, 64).first | iid };
}
