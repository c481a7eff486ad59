import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRuleset, NftError } from '../src/firewall/nftables.js';

const rule = { id: 'a1', protocol: 'TCP' as const, hostPort: 443, guestIpv4: '198.51.100.178', guestPort: 8443 };

test('every DNAT rule matches only traffic addressed to the host, so a forward cannot capture transit traffic', () => {
  const text = buildRuleset('virtplane', [rule, { ...rule, id: 'b2', protocol: 'UDP', hostPort: 53 }]);
  const dnat = text.split('\n').filter((l) => l.includes('dnat'));
  assert.equal(dnat.length, 4, 'one rule per forward in prerouting and in output');
  for (const l of dnat) assert.match(l, /^\s+fib daddr type local meta nfproto ipv4 (tcp|udp) dport \d+ dnat ip to 198\.51\.100\.178:\d+ comment "\w+"$/);
  // The file replaces the table atomically: add (so delete cannot fail), delete, define.
  assert.deepEqual(text.split('\n').slice(0, 3), ['table inet virtplane', 'delete table inet virtplane', 'table inet virtplane {']);
});

test('nothing from outside can add a statement to the file', () => {
  for (const bad of [{ guestIpv4: '1.2.3.4; flush ruleset' }, { id: 'x" ; flush ruleset ; "' }, { hostPort: 0 }]) {
    assert.throws(() => buildRuleset('virtplane', [{ ...rule, ...bad }]), NftError);
  }
  assert.throws(() => buildRuleset('v; flush ruleset', [rule]), NftError);
});
