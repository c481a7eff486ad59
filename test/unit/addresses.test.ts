import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  allocationPool,
  canonicalIp,
  countFree,
  eui64Address,
  firstFree,
  formatIp,
  overlaps,
  parseIp,
  subnetOf,
  type Ip,
} from '../../src/services/network/addresses.js';

const ip = (s: string): Ip => parseIp(s)!;

/** Allocates from a pool until it is exhausted, as IPAM does. */
function drain(address: string, prefix: number, dhcp: { start: string; end: string }[] = [], limit = 1000): string[] {
  const pool = allocationPool(address, prefix, dhcp)!;
  const taken = new Set<bigint>();
  const out: string[] = [];
  for (let i = 0; i < limit; i++) {
    const next = firstFree(pool.ranges, taken, pool.excluded);
    if (!next) break;
    taken.add(next.value);
    out.push(formatIp(next));
  }
  return out;
}

describe('address arithmetic', () => {
  test('parses and formats IPv4 and IPv6 canonically, rejecting what is not an address', () => {
    assert.equal(canonicalIp('203.0.113.177'), '203.0.113.177');
    assert.equal(canonicalIp('2001:0db8:e2f3:e12d:0000:0000:0000:0001'), '2001:db8:e2f3:e12d::1');
    assert.equal(canonicalIp('2001:DB8::A'), '2001:db8::a');
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.256',
      '01.2.3.4x',
      '0x7f.1',
      '127.1',
      'fe80::1%eth0',
      '10.0.0.0/8',
      'host',
      '1:2:3:4:5:6:7:8:9',
    ]) {
      assert.equal(parseIp(bad), null, bad);
    }
    assert.equal(ip('255.255.255.255').value, 0xffffffffn);
    assert.equal(ip('::ffff').family, 6);
  });

  test('subnets and overlap', () => {
    const s = subnetOf(ip('203.0.113.177'), 29);
    assert.equal(formatIp({ family: 4, value: s.first }), '203.0.113.176');
    assert.equal(formatIp({ family: 4, value: s.last }), '203.0.113.183');
    const v6 = subnetOf(ip('2001:db8:e2f3:e12d::1'), 64);
    assert.equal(formatIp({ family: 6, value: v6.last }), '2001:db8:e2f3:e12d:ffff:ffff:ffff:ffff');
    assert.ok(overlaps(s, subnetOf(ip('203.0.113.0'), 24)), 'a /24 overlaps the subnet inside it');
    assert.ok(!overlaps(s, subnetOf(ip('203.0.113.184'), 29)), 'a /29 outside the subnet does not overlap it');
    assert.ok(!overlaps(s, v6), 'different families never overlap');
  });

  test("the seed's /29 gives exactly .178–.182, with or without its DHCP range, then is exhausted", () => {
    const expected = ['203.0.113.178', '203.0.113.179', '203.0.113.180', '203.0.113.181', '203.0.113.182'];
    assert.deepEqual(drain('203.0.113.177', 29, [{ start: '203.0.113.178', end: '203.0.113.182' }]), expected);
    assert.deepEqual(drain('203.0.113.177', 29), expected);
  });

  test('a DHCP range narrows the pool and skips the host address inside it; free addresses are counted', () => {
    assert.deepEqual(drain('192.0.2.10', 24, [{ start: '192.0.2.9', end: '192.0.2.12' }]), ['192.0.2.9', '192.0.2.11', '192.0.2.12']);
    const pool = allocationPool('192.0.2.1', 24)!;
    assert.equal(countFree(pool.ranges, new Set(), pool.excluded), 253n);
    assert.equal(countFree(pool.ranges, new Set([ip('192.0.2.2').value, ip('192.0.2.1').value]), pool.excluded), 252n);
  });

  test('IPv6: a /64 hands out from the bottom past the host address; a /126 is exhausted after three', () => {
    assert.deepEqual(drain('2001:db8:e2f3:e12d::1', 64, [], 3), [
      '2001:db8:e2f3:e12d::2',
      '2001:db8:e2f3:e12d::3',
      '2001:db8:e2f3:e12d::4',
    ]);
    assert.deepEqual(drain('2001:db8::1', 126), ['2001:db8::2', '2001:db8::3']);
    const pool = allocationPool('2001:db8::1', 64)!;
    assert.equal(countFree(pool.ranges, new Set(), pool.excluded), 2n ** 64n - 2n);
  });

  test('EUI-64: the address a SLAAC guest forms from its MAC (as iPXE did on a real host)', () => {
    // Observed: iPXE with MAC 52:54:00:db:9b:ea on 2001:db8:e2f3:e12d::/64 configured exactly this address.
    assert.equal(formatIp(eui64Address('2001:db8:e2f3:e12d::1', '52:54:00:db:9b:ea')!), '2001:db8:e2f3:e12d:5054:ff:fedb:9bea');
    // Any address of the /64 names the same prefix; the universal/local bit is flipped both ways; case does not matter.
    assert.equal(formatIp(eui64Address('2001:db8:0:7::abcd', '02:00:5E:10:00:01')!), '2001:db8:0:7:0:5eff:fe10:1');
    assert.equal(eui64Address('192.0.2.1', '52:54:00:db:9b:ea'), null);
    assert.equal(eui64Address('2001:db8::1', 'not-a-mac'), null);
  });

  test('point-to-point and unusable input', () => {
    assert.deepEqual(drain('198.51.100.0', 31), ['198.51.100.1']);
    assert.deepEqual(drain('198.51.100.1', 32), []);
    assert.equal(allocationPool('198.51.100.1', 33), null);
    assert.equal(allocationPool('nonsense', 24), null);
  });
});
