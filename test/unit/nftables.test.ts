import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { buildRuleset, NftError } from '../../src/host/nftables.js';

const rule = { id: 'a1', protocol: 'TCP' as const, hostPort: 443, guestIpv4: '198.51.100.178', guestPort: 8443 };

test('every DNAT rule matches only traffic addressed to the host, so a forward cannot capture transit traffic', () => {
  const text = buildRuleset('virtplane', { dnat: [rule, { ...rule, id: 'b2', protocol: 'UDP', hostPort: 53 }], masquerade: [] });
  const dnat = text.split('\n').filter((l) => l.includes('dnat'));
  assert.equal(dnat.length, 4, 'one rule per forward in prerouting and in output');
  for (const l of dnat)
    assert.match(
      l,
      /^\s+fib daddr type local ip daddr != 127\.0\.0\.0\/8 (tcp|udp) dport \d+ dnat ip to 198\.51\.100\.178:\d+ comment "\w+"$/,
    );
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

/**
 * Connects from inside network namespace `ns` to each target in turn, where a listener on all addresses of
 * `port` answers; tells which connections were accepted.
 */
function connectsInNamespace(ns: string, port: number, targets: string[]): Record<string, boolean> {
  const script = `
    const net = require('node:net');
    const server = net.createServer((c) => c.end()).listen(${port}, '0.0.0.0', async () => {
      const out = {};
      for (const host of ${JSON.stringify(targets)}) {
        out[host] = await new Promise((resolve) => {
          const c = net.connect({ host, port: ${port}, timeout: 1000 }, () => { c.destroy(); resolve(true); });
          c.on('error', () => resolve(false)).on('timeout', () => { c.destroy(); resolve(false); });
        });
      }
      console.log(JSON.stringify(out));
      server.close();
    });`;
  return JSON.parse(execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { encoding: 'utf8' }));
}

test("a forward takes the host port on the host's own addresses, never on loopback, where consoles listen", (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root for a network namespace');
  // A namespace of its own: its loopback, and one documentation address standing for the host's public one.
  // The guest address has no route there, so no packet leaves it.
  const ns = `vp-nft-${randomBytes(3).toString('hex')}`;
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    ip('addr', 'add', '192.0.2.10/32', 'dev', 'lo');
    ip('link', 'set', 'lo', 'up');
    const port = 5900;
    assert.deepEqual(
      connectsInNamespace(ns, port, ['127.0.0.1', '192.0.2.10']),
      { '127.0.0.1': true, '192.0.2.10': true },
      'before any forward',
    );
    const text = buildRuleset('virtplane', { dnat: [{ ...rule, hostPort: port }], masquerade: [] });
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: text });
    // The public address now leads to the guest (unreachable here); 127.0.0.1 still to the local listener.
    assert.deepEqual(connectsInNamespace(ns, port, ['127.0.0.1', '192.0.2.10']), { '127.0.0.1': true, '192.0.2.10': false });
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});
