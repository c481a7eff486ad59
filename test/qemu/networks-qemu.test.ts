import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { METADATA_NAMESPACE } from '../../src/libvirt/xml/domain.js';
import { cleanTrafficFilterrefXml } from '../../src/libvirt/xml/nwfilter.js';
import { eui64Address, formatIp } from '../../src/services/network/addresses.js';
import { acquireLibvirtd, domainType, uniqueBridge, uniquePrefix, virsh, virshQuiet, type LibvirtdLease } from '../helpers/qemu.js';
import { domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';
import { ipv4Plus, unusedDocumentationBlock, unusedDocumentationPrefix64 } from '../helpers/subnets.js';

/** Answers each connection on port 22 with the peer's address, then closes. */
const GUEST_SERVER = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 22)); s.listen()
print('listening', flush=True)
while True:
    conn, peer = s.accept(); conn.sendall(('guest saw %s\\n' % peer[0]).encode()); conn.close()
`;
/** Connects to host:port, retrying for a few seconds while the new bridge port starts forwarding (STP). */
const CLIENT = `
import socket, sys, time
for attempt in range(40):
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); print(c.recv(100).decode().strip()); break
    except OSError:
        if attempt == 39: raise
        time.sleep(0.25)
`;

/**
 * Real networks on the QEMU driver through the host's libvirtd, once routed and once NAT, on documentation
 * ranges: a TCG guest on it with a pinned address and anti-spoofing, port forwards (and, for NAT, the
 * masquerade) in an nftables table this test owns, and traffic between namespaces the test makes.
 */
for (const mode of ['ROUTE', 'NAT'] as const)
  describe(`${mode} networks on a real libvirtd (QEMU driver)`, () => {
    const prefix = uniquePrefix(mode === 'ROUTE' ? 'net' : 'nat');
    const name = `${prefix}-${mode.toLowerCase()}`;
    const vmName = `${prefix}-vm`;
    const bridge = uniqueBridge();
    // A random /29 and /64 of the documentation ranges, so parallel runs do not collide; the /29 and the client's
    // /30 (below) are ones the host does not use itself: this machine may sit on a documentation range too.
    const base = unusedDocumentationBlock(29);
    const v4 = (n: number) => ipv4Plus(base, n);
    // Groups without leading zeros: addresses come back in canonical form (03f3 reads as 3f3).
    const v6 = unusedDocumentationPrefix64();
    const table = `vpt_${process.pid}_${Date.now().toString(36)}`;
    const nft = { binary: 'nft', table };
    const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-qemu-net-'));
    let lease: LibvirtdLease;
    let s: TestServer | undefined;
    let mac = '';
    let ipv4 = '';
    let ipv6 = '';
    let networkId = '';
    const domainUuid = randomUUID();
    const tag = randomBytes(3).toString('hex');
    const clientNet = unusedDocumentationBlock(30, [`${base}/29`]);
    const netns: {
      guest: string;
      client: string;
      guestHost: string;
      clientHost: string;
      hostSide: string;
      clientSide: string;
      server?: ChildProcess;
      outsideServer?: ChildProcess;
    } = {
      guest: `vptest-g-${tag}`,
      client: `vptest-c-${tag}`,
      guestHost: `vpg${tag}`,
      clientHost: `vpc${tag}`,
      hostSide: ipv4Plus(clientNet, 1),
      clientSide: ipv4Plus(clientNet, 2),
    };

    before(async () => {
      lease = await acquireLibvirtd();
      s = await startTestServer({ driver: 'QEMU', dataDir, nft });
    });
    after(async () => {
      netns.server?.kill();
      netns.outsideServer?.kill();
      for (const args of [
        ['link', 'del', netns.guestHost],
        ['link', 'del', netns.clientHost],
        ['netns', 'del', netns.guest],
        ['netns', 'del', netns.client],
      ]) {
        try {
          execFileSync('ip', args, { stdio: 'ignore' });
        } catch {
          /* never made */
        }
      }
      virshQuiet('destroy', vmName);
      virshQuiet('undefine', vmName);
      virshQuiet('net-destroy', name);
      virshQuiet('net-undefine', name);
      try {
        execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
      } catch {
        /* libvirt removed it */
      }
      try {
        execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'ignore' });
      } catch {
        /* not there */
      }
      await s?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      await lease?.release();
    });

    test(`an admin defines and starts a ${mode} network; libvirt runs it with the bridge and addresses asked for`, async () => {
      const r = await s!.gql(
        `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { __typename
        ... on CreateNetworkSuccess { network { id active bridge forwardMode freeIpv4 antiSpoofing { enabled supported } } } ... on Error { code message } } }`,
        {
          input: {
            name,
            forwardMode: mode,
            bridge,
            ipv4: { address: v4(1), prefix: 29, dhcpRange: { start: v4(2), end: v4(6) } },
            ipv6: { address: `${v6}::1`, prefix: 64 },
            start: true,
          },
        },
      );
      assert.equal(r.data?.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(r));
      const n = r.data.createNetwork.network;
      networkId = n.id;
      assert.deepEqual(
        { ...n, id: undefined },
        { id: undefined, active: true, bridge, forwardMode: mode, freeIpv4: 5, antiSpoofing: { enabled: true, supported: true } },
      );
      const xml = virsh('net-dumpxml', name);
      // virtplane runs NAT itself: to libvirt it is an open network (libvirt adds no firewall rules, whose
      // NAT mode would refuse every forwarded connection), the masquerade is in virtplane's table.
      assert.match(xml, mode === 'ROUTE' ? /<forward mode='route'\/>/ : /<forward mode='open'\/>/);
      assert.match(xml, new RegExp(`<range start='${v4(2)}' end='${v4(6)}'`));
      assert.match(
        execFileSync('ip', ['-o', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' }),
        new RegExp(`inet ${v4(1).replace(/\./g, '\\.')}/29`),
      );
    });

    test('a guest NIC gets a pinned DHCP host entry and is bound to clean-traffic with its IPv4', async () => {
      const { ipam } = s!.app.hosts[0]!;
      const network = s!.app.services.networks.byName(name)!;
      mac = ipam.allocateMac(domainUuid);
      const alloc = ipam.allocate({ networkUuid: network.uuid, domainUuid, mac });
      ipv4 = alloc.ipv4!;
      assert.equal(ipv4, v4(2));
      // On the /64: the MAC's EUI-64 address, the one the guest's SLAAC forms.
      ipv6 = formatIp(eui64Address(`${v6}::`, mac)!);
      assert.deepEqual([alloc.ipv6, alloc.ipv6Assignment], [ipv6, 'SLAAC']);
      await ipam.pin(mac);
      const hosts = virsh('net-dumpxml', name);
      assert.match(hosts, new RegExp(`<host mac='${mac}' ip='${ipv4}'/>`));
      assert.match(
        virsh('net-dumpxml', '--inactive', name),
        new RegExp(`<host mac='${mac}' ip='${ipv4}'/>`),
        'pinned in the definition too',
      );

      const filter = ipam.cleanTrafficFor(mac);
      assert.deepEqual(filter, { ipv4: [ipv4], ipv6: [ipv6] });
      const xml = `<domain type='${domainType()}'><name>${vmName}</name><uuid>${domainUuid}</uuid>
      <metadata><virtplane:instance xmlns:virtplane='${METADATA_NAMESPACE}'><virtplane:owner id='nobody'/></virtplane:instance></metadata>
      <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
      <devices><interface type='network'><mac address='${mac}'/><source network='${name}'/><model type='virtio'/><rom enabled='no'/>
      ${cleanTrafficFilterrefXml(filter, s!.app.instance.nwfilterPrefix)}</interface></devices></domain>`;
      const file = join(dataDir, 'vm.xml');
      writeFileSync(file, xml);
      virsh('define', file);
      virsh('start', vmName);
      const dev = virsh('domiflist', vmName).trim().split(/\s+/)[0]!;
      const bindings = virsh('nwfilter-binding-list');
      assert.match(bindings, new RegExp(`${dev}\\s+${s!.app.instance.nwfilterPrefix}clean-traffic`));
      const binding = virsh('nwfilter-binding-dumpxml', dev);
      assert.match(binding, new RegExp(`<parameter name='IP' value='${ipv4.replace(/\./g, '\\.')}'/>`));
      assert.match(binding, new RegExp(`<parameter name='IPV6' value='${ipv6}'/>`));
      // The filter is instantiated: its IPv6 anti-spoofing chain exists for this NIC in the host's bridge firewall.
      // libvirt may still be rewriting the NIC's chains, and ebtables-nft fails a listing that races a change
      // ("RULE_DELETE failed ... libvirt-I-vnet0"): a failed or incomplete listing is asked again.
      await waitFor(async () => {
        const rules = execFileSync('ebtables', ['-t', 'nat', '-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        return /-p IPv6 .*-j I-.*-ipv6-ip/.test(rules) ? rules : null;
      });

      const seen = await waitFor(async () => {
        const r = await s!.gql(`query($id: ID!) { node(id: $id) { ... on Domain { state interfaces { mac ipv4 ipv6 } } } }`, {
          id: domainGlobalId(domainUuid),
        });
        return r.data?.node?.state === 'RUNNING' ? r.data.node : null;
      });
      assert.deepEqual(seen.interfaces, [{ mac, ipv4, ipv6 }]);
      const del = await s!.gql(`mutation($id: ID!) { deleteNetwork(id: $id) { ... on Error { code } } }`, { id: networkId });
      assert.equal(del.data.deleteNetwork.code, 'IN_USE');
    });

    test('a port forward to the guest is an nftables DNAT rule to its pinned IPv4, still there after a server restart', async () => {
      const r = await s!.gql(
        `mutation($input: AddPortForwardInput!) { addPortForward(input: $input) { __typename ... on Error { code message } } }`,
        {
          input: { domainId: domainGlobalId(domainUuid), protocol: 'TCP', hostPort: 40022, guestPort: 22 },
        },
      );
      assert.equal(r.data.addPortForward.__typename, 'AddPortForwardSuccess', JSON.stringify(r));
      const rules = () =>
        JSON.parse(execFileSync('nft', ['-j', 'list', 'table', 'inet', table], { encoding: 'utf8' }))
          .nftables.filter((x: any) => x.rule)
          .map((x: any) => {
            const dnat = x.rule.expr.find((e: any) => e.dnat)?.dnat;
            return `${x.rule.chain}: ${dnat ? JSON.stringify(dnat) : x.rule.expr.some((e: any) => 'masquerade' in e) ? `masquerade ${x.rule.comment}` : '?'}`;
          });
      const networkUuid = s!.app.services.networks.byName(name)!.uuid;
      const masquerade = mode === 'NAT' ? [`postrouting: masquerade ${networkUuid}`] : [];
      const expected = [
        `prerouting: {"family":"ip","addr":"${ipv4}","port":22}`,
        `output: {"family":"ip","addr":"${ipv4}","port":22}`,
        ...masquerade,
      ];
      assert.deepEqual(rules(), expected);

      await s!.stop();
      s = undefined;
      s = await startTestServer({ driver: 'QEMU', dataDir, nft });
      assert.deepEqual(rules(), expected, 'rewritten once, not duplicated');
      const after = await s.gql(`{ portForwards { edges { node { hostPort guestIpv4 } } } }`);
      assert.deepEqual(
        after.data.portForwards.edges.map((e: any) => e.node),
        [{ hostPort: 40022, guestIpv4: ipv4 }],
      );

      // Traffic, between namespaces this test makes: a "guest" namespace on the network's bridge holding the
      // VM's pinned address (the diskless VM never uses it) and a "client" namespace wired to the host.
      // The client connects to the host's port 40022 and gets the guest's port 22.
      const g = netns.guest;
      const c = netns.client;
      const sh = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
      sh('netns', 'add', g);
      sh('netns', 'add', c);
      sh('link', 'add', netns.guestHost, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', g);
      sh('link', 'set', netns.guestHost, 'master', bridge, 'up');
      sh('-n', g, 'addr', 'add', `${ipv4}/29`, 'dev', 'eth0');
      sh('-n', g, 'link', 'set', 'eth0', 'up');
      sh('-n', g, 'route', 'add', 'default', 'via', v4(1));
      sh('link', 'add', netns.clientHost, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c);
      sh('addr', 'add', `${netns.hostSide}/30`, 'dev', netns.clientHost);
      sh('link', 'set', netns.clientHost, 'up');
      sh('-n', c, 'addr', 'add', `${netns.clientSide}/30`, 'dev', 'eth0');
      sh('-n', c, 'link', 'set', 'eth0', 'up');
      sh('-n', c, 'route', 'add', 'default', 'via', netns.hostSide);
      netns.server = spawn('ip', ['netns', 'exec', g, 'python3', '-c', GUEST_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((resolve) => netns.server!.stdout!.once('data', resolve)); // "listening"
      // The bridge (STP on) forwards through a new port only after its listening and learning states; frames
      // sent before, ARP included, are dropped. Wait for that instead of letting the client's retries absorb it.
      await waitFor(async () => (bridgePortState(netns.guestHost) === 'forwarding' ? true : null), 600);
      const reply = clientSays(c, netns.hostSide, '40022', 'client → host:40022 (DNAT) → guest:22');
      assert.equal(reply.trim(), `guest saw ${netns.clientSide}`);

      // The other way: the guest connects out to the client. A routed guest keeps its own address; a NAT guest
      // leaves masqueraded as the host.
      netns.outsideServer = spawn('ip', ['netns', 'exec', c, 'python3', '-c', GUEST_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((resolve) => netns.outsideServer!.stdout!.once('data', resolve));
      const seenOutside = clientSays(g, netns.clientSide, '22', 'guest → client:22');
      assert.equal(seenOutside.trim(), `guest saw ${mode === 'NAT' ? netns.hostSide : ipv4}`);

      // Deleting the guest releases its addresses: the DHCP entry and the rule go; then the network can go.
      virsh('destroy', vmName);
      virsh('undefine', vmName);
      await s.app.hosts[0]!.ipam.release(domainUuid);
      assert.doesNotMatch(virsh('net-dumpxml', name), /<host /);
      assert.deepEqual(rules(), masquerade, 'the forward is gone with the guest');
      await waitFor(async () =>
        (await s!.gql(`{ domains(filter: { nameContains: "${prefix}" }) { totalCount } }`)).data.domains.totalCount === 0 ? true : null,
      );
      const del = await s.gql(`mutation($id: ID!) { deleteNetwork(id: $id) { __typename ... on Error { code message } } }`, {
        id: networkId,
      });
      assert.equal(del.data.deleteNetwork.__typename, 'DeleteNetworkSuccess', JSON.stringify(del));
      assert.throws(() => virsh('net-info', name));
      assert.deepEqual(rules(), [], 'the masquerade is gone with the network');
    });
  });

/**
 * Polls `probe` until it returns non-null. A failed request is retried too: the synchronous virsh calls above
 * block this process's event loop, so the server's keep-alive timer may close a pooled connection just as
 * the client reuses it (ECONNRESET).
 */
/** The STP state of a bridge port (`forwarding` once it passes traffic). */
function bridgePortState(port: string): string | undefined {
  const [link] = JSON.parse(execFileSync('bridge', ['-j', 'link', 'show', 'dev', port], { encoding: 'utf8' }) || '[]') as {
    state?: string;
  }[];
  return link?.state;
}

/**
 * Runs CLIENT in namespace `ns` against host:port and returns what the server said. When it gets nothing, the
 * error carries what the host's network looked like (bridge ports, neighbours, routes, nftables), since such a
 * failure cannot be replayed at will.
 */
function clientSays(ns: string, host: string, port: string, what: string): string {
  try {
    return execFileSync('ip', ['netns', 'exec', ns, 'python3', '-c', CLIENT, host, port], { encoding: 'utf8', timeout: 30_000 });
  } catch (err) {
    const show = (cmd: string, ...args: string[]) => {
      try {
        return `$ ${cmd} ${args.join(' ')}\n${execFileSync(cmd, args, { encoding: 'utf8' })}`;
      } catch (e) {
        return `$ ${cmd} ${args.join(' ')}: ${String(e)}`;
      }
    };
    const state = [
      show('bridge', 'link'),
      show('ip', 'neigh'),
      show('ip', 'route'),
      show('ip', '-n', ns, 'addr'),
      show('nft', 'list', 'ruleset'),
    ].join('\n');
    throw new Error(`${what}: no answer (${String(err)})\n${state}`, { cause: err });
  }
}

async function waitFor<T>(probe: () => Promise<T | null>, tries = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}
