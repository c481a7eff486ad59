import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { acquireLibvirtd, domainType, uniqueBridge, uniquePrefix, virsh, undoQemuTest, type LibvirtdLease } from '../helpers/qemu.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { ipv4Plus, unusedDocumentationBlock, unusedDocumentationPrefix64 } from '../helpers/subnets.js';
import { addTenant } from '../helpers/tenants.js';

const IPXE_ISO = '/usr/lib/ipxe/ipxe.iso';

/** One echo request with a one-second wait: whether it was answered. */
function pings(address: string): boolean {
  const args = address.includes(':') ? ['-6', '-n', '-c', '1', '-W', '1', address] : ['-n', '-c', '1', '-W', '1', address];
  return spawnSync('ping', args, { stdio: 'ignore' }).status === 0;
}

/** Asks `probe` until it answers, at most `attempts` times a second apart (a booting guest under TCG is slow). */
async function within<T>(attempts: number, what: string, probe: () => T | null | undefined | false): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = probe();
    if (v !== null && v !== undefined && v !== false) return v;
    await sleep(1000);
  }
  throw new Error(`gave up after ${attempts} attempts: ${what}`);
}

/**
 * The proof of the addressing guide: a real guest booted through the API alone, with default settings, gets
 * exactly the IPv4 and IPv6 the API reports and can use no other. Debian's iPXE ISO is the guest: it does
 * DHCPv4 and SLAAC (EUI-64 from its MAC) by itself, as most installers do, and answers echo requests. The
 * routed network forwards to an interface this test makes (a veth pair leading nowhere), so nothing leaves the host.
 */
describe('a real guest gets exactly the addresses the API reports (QEMU, iPXE ISO, through the API)', () => {
  const prefix = uniquePrefix('guestnet');
  const poolName = `${prefix}-pool`;
  const networkName = `${prefix}-net`;
  const vmName = `${prefix}-vm`;
  const bridge = uniqueBridge();
  const dummy = uniqueBridge();
  let lease: LibvirtdLease;
  let s: TestServer | undefined;
  let dir = '';
  let tenant: { id: string; token: string };
  let base = '';
  let v6 = '';
  let vm: { id: string; interfaces: { mac: string; ipv4: string; ipv4Assignment: string; ipv6: string; ipv6Assignment: string }[] };
  let vnet = '';

  before(async () => {
    lease = await acquireLibvirtd();
    // A veth pair whose far end leads nowhere: the kernel here has no dummy interfaces, and either way nothing
    // the network forwards leaves the host.
    execFileSync('ip', ['link', 'add', dummy, 'type', 'veth', 'peer', 'name', `${dummy}p`]);
    execFileSync('ip', ['link', 'set', dummy, 'up']);
    dir = mkdtempSync(join(tmpdir(), 'vptest-guestnet-'));
    chmodSync(dir, 0o755); // QEMU runs as libvirt-qemu: it must reach the disk and the ISO
    const poolDir = join(dir, 'pool');
    mkdirSync(poolDir);
    // Default settings but for the names a shared libvirtd needs to be unique (VIRTPLANE_DOMAIN_TYPE=auto).
    s = await startTestServer({
      driver: 'QEMU',
      imagePools: [poolName],
      provisioning: {
        storagePool: poolName,
        storageDir: poolDir,
        domainType: 'auto',
        maxVcpus: null,
        maxMemoryMiB: null,
        maxDiskGiB: 4,
        partitions: false,
      },
    });
    tenant = addTenant(s.dataDir, 'guest-tenant');
    const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: Buffer.from(`User:${tenant.id}`).toString('base64'),
      q: { maxDomains: 1, maxVcpus: 1, maxMemoryMiB: 256, maxDiskGiB: 1, maxInterfaces: 1 },
    });
    assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess', JSON.stringify(q));
  });

  after(async () => {
    // The dummy's veth peer goes with it.
    await undoQemuTest({ guests: [vmName], network: networkName, links: [bridge, dummy], server: s, pool: poolName, dir, lease });
  });

  test("the guide's routed network and the iPXE ISO, made by the admin through the API", async () => {
    const host = (await s!.gql(`{ host { domainType domainTypeReason } }`)).data.host;
    assert.equal(host.domainType, domainType(), JSON.stringify(host));
    base = unusedDocumentationBlock(29);
    v6 = unusedDocumentationPrefix64();
    const v4 = (n: number) => ipv4Plus(base, n);
    const created = await s!.gql(
      `mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename ... on Error { code message } } }`,
      {
        i: {
          name: networkName,
          forwardMode: 'ROUTE',
          forwardDevice: dummy,
          bridge,
          start: true,
          ipv4: { address: v4(1), prefix: 29, dhcpRange: { start: v4(2), end: v4(6) } },
          ipv6: { address: `${v6}::1`, prefix: 64 },
        },
      },
    );
    assert.equal(created.data.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(created));
    // The ISO reaches the host through the API: an upload the admin announces, then PUTs.
    const iso = readFileSync(IPXE_ISO);
    const sha256 = createHash('sha256').update(iso).digest('hex');
    const up = await s!.gql(
      `mutation($i: CreateImageUploadInput!) { createImageUpload(input: $i) { __typename ... on CreateImageUploadSuccess { upload { uploadUrl } } ... on Error { code message } } }`,
      { i: { name: 'ipxe', pool: poolName, sizeBytes: iso.length, sha256 } },
    );
    assert.equal(up.data.createImageUpload.__typename, 'CreateImageUploadSuccess', JSON.stringify(up));
    const put = await fetch(new URL(up.data.createImageUpload.upload.uploadUrl, s!.url), {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: iso,
    });
    assert.equal(put.status, 201, `the upload is published: ${await put.clone().text()}`);
    const images = await s!.gql(`{ images(first: 10) { edges { node { name sizeBytes sha256 } } } }`);
    assert.deepEqual(
      images.data.images.edges.map((e: any) => e.node),
      [{ name: 'ipxe', sizeBytes: iso.length, sha256 }],
      JSON.stringify(images),
    );
  });

  test('a tenant starts the guest; the API reports a DHCP IPv4 and a SLAAC IPv6', async () => {
    const r = await s!.gql(
      `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename
        ... on CreateDomainSuccess { domain { id state interfaces { mac ipv4 ipv4Assignment ipv6 ipv6Assignment } } }
        ... on Error { code message } } }`,
      { i: { name: vmName, vcpus: 1, memoryMiB: 256, diskGiB: 1, network: networkName, installImage: 'ipxe', start: true } },
      tenant.token,
    );
    assert.equal(r.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(r));
    vm = r.data.createDomain.domain;
    assert.equal(r.data.createDomain.domain.state, 'RUNNING');
    const [nic] = vm.interfaces;
    assert.deepEqual([nic!.ipv4Assignment, nic!.ipv6Assignment], ['DHCP', 'SLAAC']);
    assert.ok(nic!.ipv6.startsWith(`${v6}:`), `${nic!.ipv6} is in the network's /64`);
    vnet = virsh('domiflist', vmName).trim().split(/\s+/)[0]!;
    assert.match(vnet, /^vnet\d+$/);
  });

  test("the guest's DHCPv4 lease is the API's IPv4, and it answers ping on the API's IPv4 and IPv6", async () => {
    const [nic] = vm.interfaces;
    // iPXE boots from the CD-ROM (the empty disk first fails), then runs DHCP on its NIC: ~10 s under TCG.
    const leased = await within(120, 'the DHCPv4 lease of the guest', () => {
      const line = virsh('net-dhcp-leases', networkName)
        .split('\n')
        .find((l) => l.includes(nic!.mac));
      return line?.match(/ipv4\s+(\S+)\/29/)?.[1];
    });
    assert.equal(leased, nic!.ipv4, "the address the guest's DHCP got is the API's");
    await within(60, `ping ${nic!.ipv4}`, () => pings(nic!.ipv4));
    await within(60, `ping -6 ${nic!.ipv6}`, () => pings(nic!.ipv6));
  });

  test("anti-spoofing: the NIC may use exactly the API's addresses (and link-local); nothing answers on others", async () => {
    const [nic] = vm.interfaces;
    const binding = virsh('nwfilter-binding-dumpxml', vnet);
    const params = [...binding.matchAll(/<parameter name='(IP|IPV6)' value='([^']+)'\/>/g)].map((m) => `${m[1]}=${m[2]}`).sort();
    assert.deepEqual(params, [`IP=${nic!.ipv4}`, `IPV6=${nic!.ipv6}`], binding);
    // The bridge firewall lets IPv6 out of this NIC only from fe80::/10 and the API's address, then drops.
    // (ebtables-nft may fail a listing that races libvirt rewriting the chains: asked again then.)
    const rules = await within(
      10,
      'a listing of the bridge firewall',
      () => spawnSync('ebtables', ['-t', 'nat', '-L'], { encoding: 'utf8' }).stdout || null,
    );
    const chainOf = (suffix: string) => rules.split('\n\n').find((c) => c.trim().startsWith(`Bridge chain: I-${vnet}-${suffix},`));
    const ipv6Chain = chainOf('ipv6-ip');
    assert.ok(ipv6Chain, `the NIC has its IPv6 source chain:\n${rules}`);
    const sources6 = [...ipv6Chain.matchAll(/--ip6-src (\S+) -j RETURN/g)].map((m) => m[1]);
    assert.deepEqual(sources6.sort(), ['fe80::/10', nic!.ipv6].sort(), ipv6Chain);
    assert.match(ipv6Chain.trim().split('\n').at(-1)!, /^-j DROP$/, ipv6Chain);
    // And IPv4 only from the API's address (clean-traffic also lets a DHCP request out from 0.0.0.0).
    const ipv4Chain = chainOf('ipv4-ip');
    assert.ok(ipv4Chain, `the NIC has its IPv4 source chain:\n${rules}`);
    const sources4 = new Set([...ipv4Chain.matchAll(/--ip-src (\S+)/g)].map((m) => m[1]));
    assert.ok(sources4.has(nic!.ipv4) && [...sources4].every((a) => a === nic!.ipv4 || a === '0.0.0.0'), ipv4Chain);
    assert.match(ipv4Chain.trim().split('\n').at(-1)!, /^-j DROP$/, ipv4Chain);
    // Other addresses of the network are not the guest's: nobody answers there.
    const other6 = `${v6}::dead:beef`;
    const other4 = [2, 3, 4, 5, 6].map((n) => ipv4Plus(base, n)).find((a) => a !== nic!.ipv4)!;
    assert.equal(pings(other6), false, `nothing answers on ${other6}`);
    assert.equal(pings(other4), false, `nothing answers on ${other4}`);
  });

  test('deleteDomain leaves no domain, no DHCP host and no filter binding', async () => {
    const r = await s!.gql(
      `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`,
      { id: vm.id },
      tenant.token,
    );
    assert.equal(r.data.deleteDomain.__typename, 'DeleteDomainSuccess', JSON.stringify(r));
    assert.ok(!virsh('list', '--all', '--name').split('\n').includes(vmName), 'domain gone');
    assert.ok(!virsh('net-dumpxml', networkName).includes(vm.interfaces[0]!.mac), 'DHCP host gone');
    assert.ok(
      !virsh('nwfilter-binding-list')
        .split('\n')
        .some((l) => l.trim().split(/\s+/)[0] === vnet),
      'binding gone',
    );
    assert.equal(pings(vm.interfaces[0]!.ipv4), false, 'the address answers no more');
  });
});
