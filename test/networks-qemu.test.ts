import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { METADATA_NAMESPACE } from '../src/libvirt/xml/domain.js';
import { cleanTrafficFilterrefXml } from '../src/libvirt/xml/nwfilter.js';
import { acquireLibvirtd, domainType, uniquePrefix, virsh, virshQuiet, type LibvirtdLease } from './helpers/qemu.js';
import { domainGlobalId, startTestServer, type TestServer } from './helpers/server.js';

/**
 * Real networks on the QEMU driver through the host's libvirtd: a routed network on documentation ranges,
 * a TCG guest on it with a pinned address and clean-traffic, and NAT rules in a table this test owns.
 */
describe('networks on a real libvirtd (QEMU driver)', () => {
  const prefix = uniquePrefix('net');
  const name = `${prefix}-routed`;
  const vmName = `${prefix}-vm`;
  const bridge = `vp${randomBytes(4).toString('hex')}`; // 10 characters, under the 15 Linux allows
  // A random /29 and /64 of the documentation ranges, so parallel runs do not collide.
  const base = 8 * (1 + (randomBytes(1)[0]! % 30));
  const v4 = (n: number) => `198.51.100.${base + n}`;
  const v6 = `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`;
  const table = `vpt_${process.pid}_${Date.now().toString(36)}`;
  const nft = { binary: 'nft', table };
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-qemu-net-'));
  let lease: LibvirtdLease;
  let s: TestServer | undefined;
  let mac = '';
  let ipv4 = '';
  let networkId = '';
  const domainUuid = randomUUID();

  before(async () => {
    lease = await acquireLibvirtd();
    s = await startTestServer({ driver: 'QEMU', dataDir, nft });
  });
  after(async () => {
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

  test('an admin defines and starts a routed network; libvirt runs it with the bridge and addresses asked for', async () => {
    const r = await s!.gql(
      `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { __typename
        ... on CreateNetworkSuccess { network { id active bridge forwardMode freeIpv4 antiSpoofing { enabled supported } } } ... on Error { code message } } }`,
      {
        input: {
          name,
          forwardMode: 'ROUTE',
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
    assert.deepEqual({ ...n, id: undefined }, { id: undefined, active: true, bridge, forwardMode: 'ROUTE', freeIpv4: 5, antiSpoofing: { enabled: true, supported: true } });
    const xml = virsh('net-dumpxml', name);
    assert.match(xml, /<forward mode='route'\/>/);
    assert.match(xml, new RegExp(`<range start='${v4(2)}' end='${v4(6)}'`));
    assert.match(execFileSync('ip', ['-o', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' }), new RegExp(`inet ${v4(1).replace(/\./g, '\\.')}/29`));
  });

  test('a guest NIC gets a pinned DHCP host entry and is bound to clean-traffic with its IPv4', async () => {
    const { ipam } = s!.app.services;
    const network = s!.app.services.networks.byName(name)!;
    mac = ipam.allocateMac(domainUuid);
    const alloc = ipam.allocate({ networkUuid: network.uuid, domainUuid, mac });
    ipv4 = alloc.ipv4!;
    assert.equal(ipv4, v4(2));
    assert.equal(alloc.ipv6, `${v6}::2`);
    await ipam.pin(mac);
    const hosts = virsh('net-dumpxml', name);
    assert.match(hosts, new RegExp(`<host mac='${mac}' ip='${ipv4}'/>`));
    assert.match(virsh('net-dumpxml', '--inactive', name), new RegExp(`<host mac='${mac}' ip='${ipv4}'/>`), 'pinned in the definition too');

    const filter = ipam.cleanTrafficFor(mac);
    assert.deepEqual(filter, { ipv4: [ipv4] });
    const xml = `<domain type='${domainType()}'><name>${vmName}</name><uuid>${domainUuid}</uuid>
      <metadata><virtplane:instance xmlns:virtplane='${METADATA_NAMESPACE}'><virtplane:owner id='nobody'/></virtplane:instance></metadata>
      <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
      <devices><interface type='network'><mac address='${mac}'/><source network='${name}'/><model type='virtio'/><rom enabled='no'/>
      ${cleanTrafficFilterrefXml(filter!)}</interface></devices></domain>`;
    const file = join(dataDir, 'vm.xml');
    writeFileSync(file, xml);
    virsh('define', file);
    virsh('start', vmName);
    const dev = virsh('domiflist', vmName).trim().split(/\s+/)[0]!;
    const bindings = virsh('nwfilter-binding-list');
    assert.match(bindings, new RegExp(`${dev}\\s+clean-traffic`));
    assert.match(virsh('nwfilter-binding-dumpxml', dev), new RegExp(`<parameter name='IP' value='${ipv4.replace(/\./g, '\\.')}'/>`));

    const seen = await waitFor(async () => {
      const r = await s!.gql(`query($id: ID!) { node(id: $id) { ... on Domain { state interfaces { mac ipv4 ipv6 } } } }`, { id: domainGlobalId(domainUuid) });
      return r.data?.node?.state === 'RUNNING' ? r.data.node : null;
    });
    assert.deepEqual(seen.interfaces, [{ mac, ipv4, ipv6: `${v6}::2` }]);
    const del = await s!.gql(`mutation($id: ID!) { deleteNetwork(id: $id) { ... on Error { code } } }`, { id: networkId });
    assert.equal(del.data.deleteNetwork.code, 'IN_USE');
  });

  test('a port forward to the guest is an nftables DNAT rule to its pinned IPv4, still there after a server restart', async () => {
    const r = await s!.gql(`mutation($input: AddPortForwardInput!) { addPortForward(input: $input) { __typename ... on Error { code message } } }`, {
      input: { domainId: domainGlobalId(domainUuid), protocol: 'TCP', hostPort: 40022, guestPort: 22 },
    });
    assert.equal(r.data.addPortForward.__typename, 'AddPortForwardSuccess', JSON.stringify(r));
    const rules = () =>
      JSON.parse(execFileSync('nft', ['-j', 'list', 'table', 'inet', table], { encoding: 'utf8' }))
        .nftables.filter((x: any) => x.rule)
        .map((x: any) => `${x.rule.chain}: ${JSON.stringify(x.rule.expr.find((e: any) => e.dnat).dnat)}`);
    const expected = [`prerouting: {"family":"ip","addr":"${ipv4}","port":22}`, `output: {"family":"ip","addr":"${ipv4}","port":22}`];
    assert.deepEqual(rules(), expected);

    await s!.stop();
    s = undefined;
    s = await startTestServer({ driver: 'QEMU', dataDir, nft });
    assert.deepEqual(rules(), expected, 'rewritten once, not duplicated');
    const after = await s.gql(`{ portForwards { hostPort guestIpv4 } }`);
    assert.deepEqual(after.data.portForwards, [{ hostPort: 40022, guestIpv4: ipv4 }]);

    // Deleting the guest releases its addresses: the DHCP entry and the rule go; then the network can go.
    virsh('destroy', vmName);
    virsh('undefine', vmName);
    await s.app.services.ipam.release(domainUuid);
    assert.doesNotMatch(virsh('net-dumpxml', name), /<host /);
    assert.deepEqual(rules(), []);
    await waitFor(async () => ((await s!.gql(`{ domains(filter: { nameContains: "${prefix}" }) { totalCount } }`)).data.domains.totalCount === 0 ? true : null));
    const del = await s.gql(`mutation($id: ID!) { deleteNetwork(id: $id) { __typename ... on Error { code message } } }`, { id: networkId });
    assert.equal(del.data.deleteNetwork.__typename, 'DeleteNetworkSuccess', JSON.stringify(del));
    assert.throws(() => virsh('net-info', name));
  });
});

/**
 * Polls `probe` until it returns non-null. A failed request is retried too: the synchronous virsh calls above
 * block this process's event loop, so the server's keep-alive timer may close a pooled connection just as
 * the client reuses it (ECONNRESET).
 */
async function waitFor<T>(probe: () => Promise<T | null>, tries = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}
