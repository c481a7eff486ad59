import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { acquireLibvirtd, domainType, uniqueBridge, uniquePrefix, virsh, undoQemuTest, type LibvirtdLease } from '../helpers/qemu.js';
import { collect, startTestServer, type TestServer } from '../helpers/server.js';
import { ipv4Plus, unusedDocumentationBlock, unusedDocumentationPrefix64 } from '../helpers/subnets.js';
import { addTenant } from '../helpers/tenants.js';

const GiB = 1024 ** 3;
const ACTION = (m: string) =>
  `mutation($id: ID!) { r: ${m}(id: $id) { __typename ... on DomainActionSuccess { domain { state } } ... on Error { code message } } }`;

/**
 * A tenant installs a VM from an ISO on the real QEMU driver through the API alone: admin makes a routed
 * network and publishes an ISO; the tenant creates and starts the domain, resets it, stops it, resizes it and
 * deletes it; nothing is left in libvirt or SQLite.
 */
describe('provisioning end to end on libvirtd (QEMU driver, through the API)', () => {
  const prefix = uniquePrefix('e2e');
  const poolName = `${prefix}-pool`;
  const networkName = `${prefix}-net`;
  const vmName = `${prefix}-vm`;
  const bridge = uniqueBridge();
  let lease: LibvirtdLease;
  let s: TestServer | undefined;
  let dir = '';
  let poolDir = '';
  let alice: { id: string; token: string };
  let vm: { id: string; uuid: string; interfaces: { mac: string; ipv4: string; ipv6: string }[] };

  before(async () => {
    lease = await acquireLibvirtd();
    dir = mkdtempSync(join(tmpdir(), 'vptest-e2e-'));
    chmodSync(dir, 0o755); // the qemu user must reach the disk and the ISO below it
    poolDir = join(dir, 'pool');
    mkdirSync(poolDir);
    const src = join(dir, 'iso-src');
    mkdirSync(src);
    writeFileSync(join(src, 'README.TXT'), 'virtplane e2e install medium\n');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'VPE2E', '-o', join(poolDir, 'install.iso'), src], { stdio: 'ignore' });
    s = await startTestServer({
      driver: 'QEMU',
      imagePools: [poolName],
      provisioning: {
        storagePool: poolName,
        storageDir: poolDir,
        domainType: domainType(),
        maxVcpus: null,
        maxMemoryMiB: null,
        maxDiskGiB: 4,
        partitions: false,
      },
    });
    alice = addTenant(s.dataDir, 'alice');
    const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: Buffer.from(`User:${alice.id}`).toString('base64'),
      q: { maxDomains: 2, maxVcpus: 2, maxMemoryMiB: 512, maxDiskGiB: 4, maxInterfaces: 2 },
    });
    assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess');
  });

  after(async () => {
    // Whatever the tests got to: the guest, the network (and its bridge), the pool.
    await undoQemuTest({ guests: [vmName], network: networkName, links: [bridge], server: s, pool: poolName, dir, lease });
  });

  /** The network's DHCP range, once it is made. */
  let dhcpAddresses: string[] = [];

  test('the admin makes a routed network and publishes an ISO from the storage pool', async () => {
    assert.equal((await s!.gql(`{ host { domainType } }`)).data.host.domainType, domainType());
    // A /29 and a /64 of the documentation ranges that the host does not use and no other test process holds.
    const base = unusedDocumentationBlock(29);
    const v4 = (n: number) => ipv4Plus(base, n);
    dhcpAddresses = [2, 3, 4, 5, 6].map(v4);
    const created = await s!.gql(
      `mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename ... on Error { code message } } }`,
      {
        i: {
          name: networkName,
          forwardMode: 'ROUTE',
          bridge,
          start: true,
          ipv4: { address: v4(1), prefix: 29, dhcpRange: { start: v4(2), end: v4(6) } },
          ipv6: { address: `${unusedDocumentationPrefix64()}::1`, prefix: 64 },
        },
      },
    );
    assert.equal(created.data.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(created.data));
    const img = await s!.gql(
      `mutation($p: String!) { addImage(name: "e2e-installer", path: $p) { __typename ... on Error { code message } } }`,
      {
        p: join(poolDir, 'install.iso'),
      },
    );
    assert.equal(img.data.addImage.__typename, 'AddImageSuccess', JSON.stringify(img.data));
    if (domainType() === 'qemu') {
      const nested = await s!.gql(
        `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on Error { code } } }`,
        { i: { name: `${prefix}-nested`, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: networkName, nestedVirt: true } },
        alice.token,
      );
      assert.deepEqual(
        nested.data.createDomain,
        { __typename: 'UnsupportedError', code: 'UNSUPPORTED' },
        'no nested virtualization under TCG',
      );
    }
  });

  test('createDomain with the ISO and start: RUNNING, with an IPv4 and an IPv6, pinned as a DHCP host, and its events', async () => {
    const events = collect(s!.ws(alice.token), `subscription { domainEvents { type domain { name state } } }`);
    const r = await s!.gql(
      `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename
        ... on CreateDomainSuccess { domain { id uuid state interfaces { mac ipv4 ipv6 } disks { device source capacityBytes image { name } } } }
        ... on Error { code message } } }`,
      { i: { name: vmName, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: networkName, installImage: 'e2e-installer', start: true } },
      alice.token,
    );
    assert.equal(r.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(r.data));
    vm = r.data.createDomain.domain;
    assert.equal(r.data.createDomain.domain.state, 'RUNNING');
    assert.equal(virsh('domstate', vmName).trim(), 'running');
    assert.equal(vm.interfaces.length, 1);
    const [nic] = vm.interfaces;
    assert.ok(dhcpAddresses.includes(nic!.ipv4), `${nic!.ipv4} is not in the network's DHCP range`);
    assert.match(nic!.ipv6, /^2001:db8:/);
    assert.match(
      virsh('net-dumpxml', networkName),
      new RegExp(`<host mac=["']${nic!.mac}["'] ip=["']${nic!.ipv4.replace(/\./g, '\\.')}["']`),
    );
    // Anti-spoofing: the NIC libvirt holds, in its definition and running, may send from its own addresses only.
    const filterref = /<filterref filter='([^']+)'>([\s\S]*?)<\/filterref>/.exec(virsh('dumpxml', '--inactive', vmName));
    assert.ok(filterref, `the defined NIC has no <filterref>: ${virsh('dumpxml', '--inactive', vmName)}`);
    const parameters = [...filterref[2]!.matchAll(/<parameter name='(\w+)' value='([^']+)'\/>/g)].map((m) => `${m[1]}=${m[2]}`);
    const filterName = `${s!.app.instance.nwfilterPrefix}clean-traffic`;
    assert.deepEqual([filterref[1], parameters], [filterName, [`IP=${nic!.ipv4}`, `IPV6=${nic!.ipv6}`]]);
    const dev = virsh('domiflist', vmName).trim().split(/\s+/)[0]!;
    assert.match(virsh('nwfilter-binding-list'), new RegExp(`${dev}\\s+${filterName}`), 'the running NIC is bound to the filter');
    assert.deepEqual(r.data.createDomain.domain.disks, [
      { device: 'disk', source: `vp-${vm.uuid}.qcow2`, capacityBytes: GiB, image: null },
      { device: 'cdrom', source: null, capacityBytes: null, image: { name: 'e2e-installer' } },
    ]);
    // QEMU also sends RESUMED around STARTED; the stream shows the definition, then the start.
    for (let n = 2; !events.items.some((e: any) => e.domainEvents.type === 'STARTED'); n++) await events.next(n);
    const seen = events.items.map((e: any) => [e.domainEvents.type, e.domainEvents.domain.name, e.domainEvents.domain.state]);
    // The definition happened while the domain was off, however far its start got before the re-read.
    assert.deepEqual(seen[0], ['DEFINED', vmName, 'SHUTOFF']);
    assert.ok(
      seen.some(([type]: string[]) => type === 'STARTED') && seen.every(([, name]: string[]) => name === vmName),
      JSON.stringify(seen),
    );
    events.unsubscribe();
  });

  test("assignDomain gives the running guest's console a new password: the previous owner's no longer opens it", async () => {
    const bob = addTenant(s!.dataDir, 'bob');
    const consoleOf = async (token: string) =>
      (await s!.gql(`query($id: ID!) { domainConsole(id: $id) { password } }`, { id: vm.id }, token)).data.domainConsole.password;
    const livePassword = () => /passwd=["']([^"']+)["']/.exec(virsh('dumpxml', '--security-info', vmName))?.[1];
    const assign = async (userId: string) => {
      const r = await s!.gql(
        `mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on Error { code message } } }`,
        {
          id: vm.id,
          u: Buffer.from(`User:${userId}`).toString('base64'),
        },
      );
      assert.equal(r.data.assignDomain.__typename, 'AssignDomainSuccess', JSON.stringify(r));
    };
    const first = await consoleOf(alice.token);
    assert.equal(livePassword(), first);
    await assign(bob.id);
    const second = await consoleOf(bob.token);
    assert.notEqual(second, first);
    assert.equal(livePassword(), second, 'changed on the running guest');
    await assign(alice.id); // back, for the tests that follow
    assert.notEqual(await consoleOf(alice.token), second);
  });

  test('reset and destroy through the API; resize while stopped grows vCPUs, memory and the volume', async () => {
    assert.deepEqual((await s!.gql(ACTION('resetDomain'), { id: vm.id }, alice.token)).data.r, {
      __typename: 'DomainActionSuccess',
      domain: { state: 'RUNNING' },
    });
    const running = await s!.gql(
      `mutation($id: ID!) { resizeDomain(id: $id, input: { vcpus: 2 }) { __typename ... on Error { code } } }`,
      { id: vm.id },
      alice.token,
    );
    assert.deepEqual(running.data.resizeDomain, { __typename: 'InvalidStateError', code: 'INVALID_STATE' });
    assert.deepEqual((await s!.gql(ACTION('destroyDomain'), { id: vm.id }, alice.token)).data.r, {
      __typename: 'DomainActionSuccess',
      domain: { state: 'SHUTOFF' },
    });

    const r = await s!.gql(
      `mutation($id: ID!) { resizeDomain(id: $id, input: { vcpus: 2, memoryMiB: 192, diskGiB: 2 }) { __typename
        ... on ResizeDomainSuccess { domain { vcpus memoryMiB disks { capacityBytes } } } ... on Error { code message } } }`,
      { id: vm.id },
      alice.token,
    );
    assert.deepEqual(r.data.resizeDomain, {
      __typename: 'ResizeDomainSuccess',
      domain: { vcpus: 2, memoryMiB: 192, disks: [{ capacityBytes: 2 * GiB }, { capacityBytes: null }] },
    });
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', '-U', join(poolDir, `vp-${vm.uuid}.qcow2`)], { encoding: 'utf8' }),
    );
    assert.equal(info['virtual-size'], 2 * GiB);
    assert.match(virsh('dumpxml', '--inactive', vmName), /<rom enabled=["']no["']\/>/);
    // Metering follows the grown volume from the resize on (a volume has no event of its own to carry it).
    const resizedAt = new Date();
    await new Promise((done) => setTimeout(done, 100));
    const metered = await s!.gql(
      `query($from: DateTime!, $to: DateTime!) { viewer { usage(from: $from, to: $to) { domains { edges { node { name existedHours diskGiBHours } } } } } }`,
      { from: resizedAt.toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() },
      alice.token,
    );
    const [since] = metered.data.viewer.usage.domains.edges.map((e: any) => e.node);
    assert.equal(since.name, vmName);
    assert.ok(Math.abs(since.diskGiBHours - 2 * since.existedHours) < 1e-9, `2 GiB since the resize: ${JSON.stringify(since)}`);
  });

  test('deleteDomain leaves nothing behind in libvirt or SQLite', async () => {
    const r = await s!.gql(
      `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`,
      { id: vm.id },
      alice.token,
    );
    assert.equal(r.data.deleteDomain.__typename, 'DeleteDomainSuccess', JSON.stringify(r.data));
    assert.throws(() => execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'dominfo', vmName], { stdio: 'pipe' }), 'domain gone');
    assert.ok(!virsh('vol-list', poolName).includes(`vp-${vm.uuid}`), 'volume gone');
    assert.ok(!virsh('net-dumpxml', networkName).includes(vm.interfaces[0]!.mac), 'DHCP host gone');

    const mine = await s!.gql(
      `{ domains { totalCount } viewer { quota { usage { domains vcpus memoryMiB diskGiB interfaces } } } }`,
      {},
      alice.token,
    );
    assert.deepEqual(mine.data, {
      domains: { totalCount: 0 },
      viewer: { quota: { usage: { domains: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0, interfaces: 0 } } },
    });
    const db = new Database(join(s!.dataDir, 'virtplane.sqlite'), { readonly: true });
    try {
      for (const table of [
        'reservations',
        'domain_owners',
        'mac_leases',
        'ip_allocations',
        'domain_deletions',
        'kept_volumes',
        'port_forwards',
      ]) {
        assert.deepEqual(db.prepare(`select * from ${table}`).all(), [], table);
      }
    } finally {
      db.close();
    }
  });
});
