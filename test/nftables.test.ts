import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRuleset, NftError } from '../src/firewall/nftables.js';

const rule = { id: 'a1', protocol: 'TCP' as const, hostPort: 443, guestIpv4: '198.51.100.178', guestPort: 8443 };

test('every DNAT rule matches only traffic addressed to the host, so a forward cannot capture transit traffic', () => {
  const text = buildRuleset('virtplane', { dnat: [rule, { ...rule, id: 'b2', protocol: 'UDP', hostPort: 53 }], masquerade: [] });
  const dnat = text.split('\n').filter((l) => l.includes('dnat'));
  assert.equal(dnat.length, 4, 'one rule per forward in prerouting and in output');
  for (const l of dnat) assert.match(l, /^\s+fib daddr type local meta nfproto ipv4 (tcp|udp) dport \d+ dnat ip to 198\.51\.100\.178:\d+ comment "\w+"$/);
  // The file replaces the table atomically: add (so delete cannot fail), delete, define.
  assert.deepEqual(text.split('\n').slice(0, 3), ['table inet virtplane', 'delete table inet virtplane', 'table inet virtplane {']);
});

test('nothing from outside can add a statement to the file', () => {
  for (const bad of [{ guestIpv4: '1.2.3.4; flush ruleset' }, { id: 'x" ; flush ruleset ; "' }, { hostPort: 0 }]) {
    assert.throws(() => buildRuleset('virtplane', { dnat: [{ ...rule, ...bad }], masquerade: [] }), NftError);
  }
  for (const bad of [{ network: '10.0.0.0/8 accept' }, { prefix: 33 }, { bridge: 'br0" accept "' }]) {
    assert.throws(() => buildRuleset('virtplane', { dnat: [], masquerade: [{ ...nat, ...bad }] }), NftError);
  }
  assert.throws(() => buildRuleset('v; flush ruleset', { dnat: [rule], masquerade: [] }), NftError);
});

const nat = { id: '6c3f0b7e-3f25-4a63-9a0e-6b1c2f0d7a10', network: '203.0.113.176', prefix: 29, bridge: 'vpnat0' };

test('a NAT network masquerades what its guests send out, never what they send each other', () => {
  const text = buildRuleset('virtplane', { dnat: [], masquerade: [nat] });
  const lines = text.split('\n');
  const chain = lines.indexOf('  chain postrouting {');
  assert.equal(lines[chain + 1], '    type nat hook postrouting priority srcnat; policy accept;');
  assert.equal(
    lines[chain + 2],
    `    ip saddr 203.0.113.176/29 ip daddr != 203.0.113.176/29 oifname != "vpnat0" masquerade comment "${nat.id}"`,
  );
});
