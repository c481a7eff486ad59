import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

/** The IPv4 documentation ranges (RFC 5737): the only ones tests may put on links and networks. */
const DOCUMENTATION = ['192.0.2.0', '198.51.100.0', '203.0.113.0'];

type Prefix = { net: number; len: number };

const toNumber = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
const toText = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
const size = (len: number) => 2 ** (32 - len);
const overlaps = (a: Prefix, b: Prefix) => a.net < b.net + size(b.len) && b.net < a.net + size(a.len);

function parse(text: string): Prefix {
  const [ip, len] = text.split('/');
  const l = len === undefined ? 32 : Number(len);
  const n = toNumber(ip!);
  return { net: n - (n % size(l)), len: l };
}

/**
 * What the host's IPv4 already uses: every route of every table but the default ones (its connected subnets
 * among them), every address, gateway and neighbour. A block of a documentation range that overlaps none of
 * these steals no traffic from the host (the CI machine may itself sit on one of those ranges, gateway and all).
 */
function hostPrefixes(): Prefix[] {
  const json = (...args: string[]) => JSON.parse(execFileSync('ip', ['-j', '-4', ...args], { encoding: 'utf8' }) || '[]') as Record<string, unknown>[];
  const out: Prefix[] = [];
  for (const r of json('route', 'show', 'table', 'all')) {
    if (typeof r.dst === 'string' && r.dst !== 'default' && /^\d/.test(r.dst)) out.push(parse(r.dst));
    if (typeof r.gateway === 'string') out.push(parse(r.gateway));
  }
  for (const link of json('addr', 'show')) {
    for (const a of (link.addr_info as { local: string; prefixlen: number }[] | undefined) ?? []) out.push(parse(`${a.local}/${a.prefixlen}`));
  }
  for (const n of json('neigh', 'show')) if (typeof n.dst === 'string') out.push(parse(n.dst));
  return out;
}

/**
 * A random IPv4 block of `len` bits (e.g. 29) in the documentation ranges that the host does not use and that
 * overlaps none of `avoid` (blocks the caller took already, as `a.b.c.d/len`). Returns its first address.
 */
export function unusedDocumentationBlock(len: number, avoid: string[] = []): string {
  const used = [...hostPrefixes(), ...avoid.map(parse)];
  const candidates: Prefix[] = [];
  for (const range of DOCUMENTATION) {
    const start = toNumber(range);
    // The first block of each range is skipped: its first address is the range's network address.
    for (let net = start + size(len); net < start + 256; net += size(len)) {
      const block = { net, len };
      if (!used.some((u) => overlaps(u, block))) candidates.push(block);
    }
  }
  if (candidates.length === 0) throw new Error(`no /${len} of the documentation ranges is free on this host`);
  return toText(candidates[randomInt(candidates.length)]!.net);
}

/** The address `n` after `base` (`base` is a block's first address). */
export function ipv4Plus(base: string, n: number): string {
  return toText(toNumber(base) + n);
}
