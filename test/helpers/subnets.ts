import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { formatIp, overlaps, parseIp, subnetOf, type IpRange } from '../../src/services/addresses.js';

/** The IPv4 documentation ranges (RFC 5737): the only ones tests may put on links and networks. */
const DOCUMENTATION = ['192.0.2.0', '198.51.100.0', '203.0.113.0'];

/** `a.b.c.d` or `a.b.c.d/len` as the subnet it names. */
function subnet(text: string): IpRange {
  const [ip, len] = text.split('/');
  return subnetOf(parseIp(ip!)!, len === undefined ? 32 : Number(len));
}

/**
 * What the host's IPv4 already uses: every route of every table but the default ones (its connected subnets
 * among them), every address, gateway and neighbour. A block of a documentation range that overlaps none of
 * these steals no traffic from the host (the CI machine may itself sit on one of those ranges, gateway and all).
 */
function hostSubnets(): IpRange[] {
  const json = (...args: string[]) => JSON.parse(execFileSync('ip', ['-j', '-4', ...args], { encoding: 'utf8' }) || '[]') as Record<string, unknown>[];
  const out: IpRange[] = [];
  for (const r of json('route', 'show', 'table', 'all')) {
    if (typeof r.dst === 'string' && r.dst !== 'default' && /^\d/.test(r.dst)) out.push(subnet(r.dst));
    if (typeof r.gateway === 'string') out.push(subnet(r.gateway));
  }
  for (const link of json('addr', 'show')) {
    for (const a of (link.addr_info as { local: string; prefixlen: number }[] | undefined) ?? []) out.push(subnet(`${a.local}/${a.prefixlen}`));
  }
  for (const n of json('neigh', 'show')) if (typeof n.dst === 'string') out.push(subnet(n.dst));
  return out;
}

/**
 * A random IPv4 block of `len` bits (e.g. 29) in the documentation ranges that the host does not use and that
 * overlaps none of `avoid` (blocks the caller took already, as `a.b.c.d/len`). Returns its first address.
 */
export function unusedDocumentationBlock(len: number, avoid: string[] = []): string {
  const used = [...hostSubnets(), ...avoid.map(subnet)];
  const size = 1n << BigInt(32 - len);
  const candidates: IpRange[] = [];
  for (const range of DOCUMENTATION.map((r) => subnet(`${r}/24`))) {
    // The first block of each range is skipped: its first address is the range's network address.
    for (let first = range.first + size; first <= range.last; first += size) {
      const block: IpRange = { family: 4, first, last: first + size - 1n };
      if (!used.some((u) => overlaps(u, block))) candidates.push(block);
    }
  }
  if (candidates.length === 0) throw new Error(`no /${len} of the documentation ranges is free on this host`);
  return formatIp({ family: 4, value: candidates[randomInt(candidates.length)]!.first });
}

/** The address `n` after `base` (`base` is a block's first address). */
export function ipv4Plus(base: string, n: number): string {
  return formatIp({ family: 4, value: parseIp(base)!.value + BigInt(n) });
}
