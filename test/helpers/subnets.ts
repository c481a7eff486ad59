import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, me, readOr, running } from './process-identity.js';
import { formatIp, overlaps, parseIp, rangeSize, subnetOf, type IpRange } from '../../src/services/network/addresses.js';

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
  const json = (...args: string[]) =>
    JSON.parse(execFileSync('ip', ['-j', '-4', ...args], { encoding: 'utf8' }) || '[]') as Record<string, unknown>[];
  const out: IpRange[] = [];
  for (const r of json('route', 'show', 'table', 'all')) {
    if (typeof r.dst === 'string' && r.dst !== 'default' && /^\d/.test(r.dst)) out.push(subnet(r.dst));
    if (typeof r.gateway === 'string') out.push(subnet(r.gateway));
  }
  for (const link of json('addr', 'show')) {
    for (const a of (link.addr_info as { local: string; prefixlen: number }[] | undefined) ?? [])
      out.push(subnet(`${a.local}/${a.prefixlen}`));
  }
  for (const n of json('neigh', 'show')) if (typeof n.dst === 'string') out.push(subnet(n.dst));
  return out;
}

/**
 * Blocks handed to test processes, across processes: test files run in parallel against one libvirtd, and
 * two networks whose subnets overlap cannot both exist. Each reservation is a file `<pid>-<n>` holding a
 * subnet; it lasts as long as its process (a dead process's files are stale and removed by the next taker).
 */
const RESERVATIONS = '/run/virtplane-test/subnets';
const LOCK = '/run/virtplane-test/subnets.lock';
let reservationCount = 0;

/** Runs `fn` holding the reservation lock (a directory: creating it is atomic). Synchronous, and short. */
function withReservationLock<T>(fn: () => T): T {
  mkdirSync(RESERVATIONS, { recursive: true });
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; ; i++) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'owner'), me());
      break;
    } catch {
      // A lock whose owner died is stale (an empty owner: being created or removed right now).
      const owner = readOr(join(LOCK, 'owner'), '');
      if (owner && !running(owner)) rmSync(LOCK, { recursive: true, force: true });
      if (i > 1000) throw new Error('timed out waiting for the test subnet lock');
      Atomics.wait(nap, 0, 0, 10);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Subnets live test processes hold (this one's included); stale files are removed. Call under the lock. */
function reserved(): IpRange[] {
  const out: IpRange[] = [];
  for (const file of readdirSync(RESERVATIONS)) {
    const pid = Number(file.split('-')[0]);
    if (!alive(pid)) {
      rmSync(join(RESERVATIONS, file), { force: true });
      continue;
    }
    const [ip, len] = readFileSync(join(RESERVATIONS, file), 'utf8').trim().split('/');
    const parsed = ip ? parseIp(ip) : null;
    if (parsed) out.push(subnetOf(parsed, Number(len)));
  }
  return out;
}

/** This process's reservations go when it exits (a crashed process's are cleaned by the next taker). */
function releaseOnExit(): void {
  if (reservationCount > 0) return;
  process.once('exit', () => {
    try {
      for (const file of readdirSync(RESERVATIONS))
        if (file.startsWith(`${process.pid}-`)) rmSync(join(RESERVATIONS, file), { force: true });
    } catch {
      /* nothing reserved */
    }
  });
}

/** Picks one of `candidates` that no live test process holds, and reserves it for this process. */
function reserveOne(candidates: IpRange[], describe: string): IpRange {
  return withReservationLock(() => {
    const taken = reserved();
    const free = candidates.filter((c) => !taken.some((t) => overlaps(t, c)));
    if (free.length === 0) throw new Error(`no ${describe} is free for this test (the host or other test processes hold them all)`);
    const pick = free[randomInt(free.length)]!;
    releaseOnExit();
    const len = (pick.family === 4 ? 32 : 128) - (rangeSize(pick).toString(2).length - 1);
    writeFileSync(
      join(RESERVATIONS, `${process.pid}-${++reservationCount}`),
      `${formatIp({ family: pick.family, value: pick.first })}/${len}\n`,
    );
    return pick;
  });
}

/**
 * A random IPv4 block of `len` bits (e.g. 29) in the documentation ranges that the host does not use, that
 * overlaps none of `avoid` (blocks the caller took already, as `a.b.c.d/len`), and that no other test process
 * holds: it is reserved for this process until it exits. Returns its first address.
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
  return formatIp({ family: 4, value: reserveOne(candidates, `/${len} of the documentation ranges`).first });
}

/**
 * A random IPv6 /64 inside 2001:db8::/32 (RFC 3849) reserved for this process like `unusedDocumentationBlock`.
 * Returns its first four groups, e.g. `2001:db8:e2f3:e12d` (append `::1` for the host's address).
 */
export function unusedDocumentationPrefix64(): string {
  const candidates: IpRange[] = [];
  for (let i = 0; i < 8; i++) {
    const first = (0x20010db8n << 96n) | (BigInt(`0x${randomBytes(4).toString('hex')}`) << 64n);
    candidates.push({ family: 6, first, last: first + (1n << 64n) - 1n });
  }
  const pick = reserveOne(candidates, 'IPv6 /64 of 2001:db8::/32');
  return formatIp({ family: 6, value: pick.first }).replace(/::$/, '');
}

/** The address `n` after `base` (`base` is a block's first address). */
export function ipv4Plus(base: string, n: number): string {
  return formatIp({ family: 4, value: parseIp(base)!.value + BigInt(n) });
}
