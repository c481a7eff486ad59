import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { lookupDomainByUUID } from '../../src/libvirt/connect.js';
import { undefineDomain } from '../../src/libvirt/domain.js';
import { readNetwork } from '../../src/libvirt/network.js';
import { METADATA_NAMESPACE } from '../../src/libvirt/xml/domain.js';
import { encodeGlobalID } from '../../src/graphql/ids.js';
import { eui64Address, formatIp } from '../../src/services/network/addresses.js';
import { AddressExhaustedError } from '../../src/services/errors.js';
import { hashToken } from '../../src/services/access/auth.js';
import { domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';

const SEED_NETWORK = {
  name: 'for-all-vms',
  forwardMode: 'ROUTE',
  forwardDevice: 'eth0',
  bridge: 'guests1',
  ipv4: { address: '203.0.113.177', prefix: 29, dhcpRange: { start: '203.0.113.178', end: '203.0.113.182' } },
  ipv6: { address: '2001:db8:e2f3:e12d::1', prefix: 64 },
  autostart: true,
  start: true,
};

const CREATE = `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { __typename
  ... on CreateNetworkSuccess { network { id name active autostart forwardMode forwardDevice bridge
    ipv4 { address prefix dhcpRanges { start end } } ipv6 { address prefix } antiSpoofing { enabled supported } freeIpv4 } }
  ... on ValidationError { field } ... on Error { code message } } }`;

/** A tenant with a token, written straight into the server's database (user management is another issue). */
function addTenant(dataDir: string, name: string): { userId: string; token: string } {
  const db = new Database(join(dataDir, 'virtplane.sqlite'));
  try {
    const userId = randomUUID();
    const token = `vp_test_${randomUUID()}`;
    db.prepare(`insert into users (id, name, role) values (?, ?, 'TENANT')`).run(userId, name);
    db.prepare(`insert into api_tokens (id, user_id, label, prefix, hash) values (?, ?, 'test', ?, ?)`).run(
      randomUUID(),
      userId,
      token.slice(0, 9),
      hashToken(token),
    );
    return { userId, token };
  } finally {
    db.close();
  }
}

/** A domain on the test driver with one NIC on `network`, owned by `ownerId`. */
function domainXml(name: string, uuid: string, network: string, mac: string, ownerId: string): string {
  return `<domain type='test'><name>${name}</name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <metadata><virtplane:instance xmlns:virtplane='${METADATA_NAMESPACE}'><virtplane:owner id='${ownerId}'/></virtplane:instance></metadata>
  <os><type>hvm</type></os><devices><interface type='network'><mac address='${mac}'/><source network='${network}'/></interface></devices></domain>`;
}

describe('networks and IPAM over GraphQL (test driver)', () => {
  let s: TestServer;
  let bus: LibvirtBus;
  let tenant: { userId: string; token: string };
  let other: { userId: string; token: string };
  let networkId: string;
  let networkUuid: string;
  const domains: string[] = [];

  before(async () => {
    // A host without nft: the server starts anyway, and port forward mutations say why they cannot work.
    s = await startTestServer({ nft: { binary: '/nonexistent/nft', table: 'virtplane' } });
    bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    tenant = addTenant(s.dataDir, 'alice');
    other = addTenant(s.dataDir, 'bob');
  });
  after(async () => {
    bus?.disconnect();
    await s?.stop();
  });

  test("an admin recreates the seed's routed network; it runs with libvirt's XML as in the guide", async () => {
    const r = await s.gql(CREATE, { input: SEED_NETWORK });
    assert.equal(r.errors, undefined);
    const n = r.data.createNetwork.network;
    assert.deepEqual(
      { ...n, id: undefined },
      {
        id: undefined,
        name: 'for-all-vms',
        active: true,
        autostart: true,
        forwardMode: 'ROUTE',
        forwardDevice: 'eth0',
        bridge: 'guests1',
        ipv4: { address: '203.0.113.177', prefix: 29, dhcpRanges: [{ start: '203.0.113.178', end: '203.0.113.182' }] },
        ipv6: { address: '2001:db8:e2f3:e12d::1', prefix: 64 },
        antiSpoofing: { enabled: true, supported: false },
        freeIpv4: 5,
      },
    );
    networkId = n.id;
    networkUuid = Buffer.from(networkId, 'base64').toString().split(':').slice(1).join(':');
  });

  test('invalid or conflicting networks are refused as data, and tenants may not create networks', async () => {
    const cases: [Record<string, unknown>, string, string | null][] = [
      [{ bridge: 'a-bridge-name-too-long' }, 'VALIDATION', 'bridge'],
      [{ bridge: 'br0;rm' }, 'VALIDATION', 'bridge'],
      [{ name: "x'/><evil/>" }, 'VALIDATION', 'name'],
      [
        { ipv4: { address: '198.51.100.1', prefix: 29, dhcpRange: { start: '198.51.100.2', end: '198.51.100.9' } } },
        'VALIDATION',
        'ipv4.dhcpRange',
      ],
      [{ ipv4: { address: '198.51.100.0', prefix: 24 } }, 'VALIDATION', 'ipv4.address'],
      [{ ipv4: { address: '198.51.100.1', prefix: 33 } }, 'VALIDATION', 'ipv4.prefix'],
      [{ ipv4: { address: '2001:db8::1', prefix: 24 } }, 'VALIDATION', 'ipv4.address'],
      [{ ipv4: { address: '203.0.113.181', prefix: 30 } }, 'CONFLICT', null],
      [{ ipv4: null, ipv6: { address: '2001:db8:e2f3:e12d:1::1', prefix: 80 } }, 'CONFLICT', null],
      [{ bridge: 'guests1' }, 'CONFLICT', null],
      [{ name: 'for-all-vms' }, 'CONFLICT', null],
      [{ forwardMode: 'NAT', ipv4: null }, 'VALIDATION', 'ipv4'],
    ];
    const base = { ...SEED_NETWORK, name: 'other', bridge: 'other0', ipv4: { address: '198.51.100.1', prefix: 24 }, ipv6: null };
    for (const [change, code, field] of cases) {
      const r = await s.gql(CREATE, { input: { ...base, ...change } });
      assert.equal(r.data?.createNetwork.code, code, `${JSON.stringify(change)}: ${JSON.stringify(r)}`);
      if (field) assert.equal(r.data.createNetwork.field, field, JSON.stringify(change));
    }
    const denied = await s.gql(CREATE, { input: base }, tenant.token);
    assert.equal(denied.data.createNetwork.code, 'FORBIDDEN');
    const list = await s.gql(`{ networks { totalCount } }`);
    assert.equal(list.data.networks.totalCount, 2, 'only default and for-all-vms exist');

    // Sent at once, two networks on the same subnet and bridge: one is made, the other is a CONFLICT.
    const twins = await Promise.all(['twin-a', 'twin-b'].map((name) => s.gql(CREATE, { input: { ...base, name } })));
    const outcome = twins.map((r) => r.data.createNetwork.code ?? 'MADE').sort();
    assert.deepEqual(outcome, ['CONFLICT', 'MADE'], JSON.stringify(twins));
    const made = twins.find((r) => !r.data.createNetwork.code)!.data.createNetwork.network;
    const del = await s.gql(`mutation($id: ID!) { deleteNetwork(id: $id) { __typename } }`, { id: made.id });
    assert.equal(del.data.deleteNetwork.__typename, 'DeleteNetworkSuccess');
  });

  test("IPAM hands out exactly the /29's .178–.182, each NIC's IPv6 the EUI-64 address of its MAC, then ADDRESS_EXHAUSTED changes nothing", () => {
    const { ipam } = s.app.hosts[0]!;
    const got = [1, 2, 3, 4, 5].map(() => {
      const uuid = randomUUID();
      domains.push(uuid);
      return ipam.allocate({ networkUuid, domainUuid: uuid });
    });
    assert.deepEqual(
      got.map((a) => a.ipv4),
      ['203.0.113.178', '203.0.113.179', '203.0.113.180', '203.0.113.181', '203.0.113.182'],
    );
    // On a /64 the IPv6 is what a guest doing SLAAC from its MAC configures by itself.
    assert.deepEqual(
      got.map((a) => [a.ipv6, a.ipv6Assignment, a.ipv4Assignment]),
      got.map((a) => [formatIp(eui64Address('2001:db8:e2f3:e12d::', a.mac)!), 'SLAAC', 'STATIC']),
      'EUI-64 in the /64, handed out by SLAAC; the IPv4 is not pinned yet',
    );
    assert.equal(new Set(got.map((a) => a.ipv6)).size, 5);
    assert.equal(new Set(got.map((a) => a.mac)).size, 5);
    assert.ok(
      got.every((a) => /^52:54:00(:[0-9a-f]{2}){3}$/.test(a.mac)),
      `locally administered QEMU MACs: ${JSON.stringify(got)}`,
    );

    const before = ipam.allocations().length;
    assert.throws(() => ipam.allocate({ networkUuid, domainUuid: randomUUID() }), AddressExhaustedError);
    assert.equal(ipam.allocations().length, before);
    // The same MAC asking again gets its own addresses back, not new ones.
    assert.deepEqual(ipam.allocate({ networkUuid, domainUuid: domains[0]!, mac: got[0]!.mac }), got[0]);
  });

  test('a pinned address is a DHCP host of the network in libvirt; the NIC and the network show it', async () => {
    const { ipam } = s.app.hosts[0]!;
    const [first] = ipam.allocations().filter((a) => a.domainUuid === domains[0]);
    const pinned = await ipam.pin(first!.mac);
    assert.equal(pinned.pinned, true);
    assert.equal(pinned.ipv4Assignment, 'DHCP');
    await ipam.pin(first!.mac); // idempotent: no second entry

    const network = s.app.services.networks.byName('for-all-vms')!;
    const live = await readNetwork(bus, network.path);
    assert.deepEqual(live.ipv4!.dhcpHosts, [{ mac: first!.mac, name: null, ip: '203.0.113.178' }]);
    // libvirt sends no event for a DHCP host change: the cache learnt it from the pin itself.
    assert.deepEqual(network.ipv4!.dhcpHosts, live.ipv4!.dhcpHosts, 'the cached network shows the pin');

    // A tenant's domain with that NIC (its define signal reaches the cache through the sync pipeline).
    await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'DomainDefineXML', 's', [
      domainXml('alice-vm', domains[0]!, 'for-all-vms', first!.mac, tenant.userId),
    ]);
    const id = domainGlobalId(domains[0]!);
    let r: { data?: any } | undefined;
    for (let i = 0; i < 50; i++) {
      r = await s.gql(
        `query($id: ID!) { node(id: $id) { ... on Domain { name interfaces { mac ipv4 ipv4Assignment ipv6 ipv6Assignment network { name } } } } }`,
        { id },
        tenant.token,
      );
      if (r.data?.node) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(r!.data.node.interfaces, [
      {
        mac: first!.mac,
        ipv4: '203.0.113.178',
        ipv4Assignment: 'DHCP',
        ipv6: first!.ipv6,
        ipv6Assignment: 'SLAAC',
        network: { name: 'for-all-vms' },
      },
    ]);

    const leases = `query($id: ID!) { node(id: $id) { ... on Network { freeIpv4 leases { mac ipv4 ipv6 ipv6Assignment pinned domain { name } } } } }`;
    const admin = (await s.gql(leases, { id: networkId })).data.node;
    assert.equal(admin.freeIpv4, 0);
    assert.equal(admin.leases.length, 5);
    assert.deepEqual(admin.leases[0], {
      mac: first!.mac,
      ipv4: '203.0.113.178',
      ipv6: first!.ipv6,
      ipv6Assignment: 'SLAAC',
      pinned: true,
      domain: { name: 'alice-vm' },
    });
    const mine = (await s.gql(leases, { id: networkId }, tenant.token)).data.node;
    assert.deepEqual(mine, { freeIpv4: null, leases: [admin.leases[0]] });
    const theirs = (await s.gql(leases, { id: networkId }, other.token)).data.node;
    assert.deepEqual(theirs.leases, []);
  });

  test('an IPv6 subnet other than a /64 gives a STATIC address, in turn; an address given before EUI-64 stays, as STATIC', async () => {
    const { ipam } = s.app.hosts[0]!;
    const input = {
      ...SEED_NETWORK,
      name: 'v6-112',
      bridge: 'vp112',
      ipv4: null,
      forwardMode: 'ISOLATED',
      forwardDevice: null,
      autostart: false,
      ipv6: { address: '2001:db8:112::1', prefix: 112 },
    };
    const made = await s.gql(CREATE, { input });
    assert.equal(made.data.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(made));
    const net = s.app.services.networks.byName('v6-112')!;
    const a = ipam.allocate({ networkUuid: net.uuid, domainUuid: randomUUID() });
    const b = ipam.allocate({ networkUuid: net.uuid, domainUuid: randomUUID() });
    assert.deepEqual(
      [a, b].map((x) => [x.ipv6, x.ipv6Assignment, x.ipv4, x.ipv4Assignment]),
      [
        ['2001:db8:112::2', 'STATIC', null, null],
        ['2001:db8:112::3', 'STATIC', null, null],
      ],
    );
    // A database from before: the sequential address on the seed's /64 stays this NIC's, reported STATIC.
    const oldMac = '52:54:00:0d:0d:0d';
    const db = new Database(join(s.dataDir, 'virtplane.sqlite'));
    try {
      db.prepare(
        `INSERT INTO ip_allocations (mac, network_uuid, domain_uuid, ipv4, ipv6) VALUES (?, ?, ?, NULL, '2001:db8:e2f3:e12d::2')`,
      ).run(oldMac, networkUuid, randomUUID());
    } finally {
      db.close();
    }
    assert.deepEqual((({ ipv6, ipv6Assignment }) => ({ ipv6, ipv6Assignment }))(ipam.addressesOf(oldMac)!), {
      ipv6: '2001:db8:e2f3:e12d::2',
      ipv6Assignment: 'STATIC',
    });
    for (const x of [a, b]) await ipam.release(x.domainUuid);
    await ipam.release(ipam.addressesOf(oldMac)!.domainUuid);
    const del = await s.gql(`mutation($id: ID!) { deleteNetwork(id: $id) { __typename ... on Error { code message } } }`, {
      id: made.data.createNetwork.network.id,
    });
    assert.equal(del.data.deleteNetwork.__typename, 'DeleteNetworkSuccess', JSON.stringify(del));
  });

  test('deleteNetwork is IN_USE while a domain has a NIC on it; stop, autostart and anti-spoofing are admin actions', async () => {
    const del = await s.gql(`mutation($id: ID!) { deleteNetwork(id: $id) { __typename ... on Error { code message } } }`, {
      id: networkId,
    });
    assert.equal(del.data.deleteNetwork.code, 'IN_USE');
    assert.match(del.data.deleteNetwork.message, /alice-vm/);
    const act = (m: string, extra = '') =>
      s.gql(
        `mutation($id: ID!) { r: ${m}(id: $id${extra}) { __typename ... on NetworkActionSuccess { network { active autostart antiSpoofing { enabled } } } ... on Error { code } } }`,
        { id: networkId },
      );
    assert.deepEqual((await act('setNetworkAutostart', ', autostart: false')).data.r.network, {
      active: true,
      autostart: false,
      antiSpoofing: { enabled: true },
    });
    assert.deepEqual((await act('setNetworkAntiSpoofing', ', enabled: false')).data.r.network.antiSpoofing, { enabled: false });
    assert.equal((await act('stopNetwork')).data.r.network.active, false);
    assert.equal((await act('stopNetwork')).data.r.code, 'INVALID_STATE');
    assert.equal((await act('startNetwork')).data.r.network.active, true);
    const tenantTry = await s.gql(`mutation($id: ID!) { stopNetwork(id: $id) { ... on Error { code } } }`, { id: networkId }, tenant.token);
    assert.equal(tenantTry.data.stopNetwork.code, 'FORBIDDEN');
  });

  test('port forwards: NOT_FOUND for foreign domains, QUOTA_EXCEEDED past the quota, UNSUPPORTED without nft', async () => {
    const add = `mutation($input: AddPortForwardInput!) { addPortForward(input: $input) { __typename ... on AddPortForwardSuccess { portForward { hostPort } } ... on Error { code message } } }`;
    const input = { domainId: domainGlobalId(domains[0]!), protocol: 'TCP', hostPort: 2222, guestPort: 22 };
    assert.equal((await s.gql(add, { input }, other.token)).data.addPortForward.code, 'NOT_FOUND');
    assert.equal((await s.gql(add, { input }, tenant.token)).data.addPortForward.code, 'QUOTA_EXCEEDED');
    const quota = await s.gql(
      `mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { ... on SetQuotaSuccess { quota { limits { maxPortForwards } usage { portForwards } } } ... on Error { code } } }`,
      {
        u: encodeGlobalID('User', tenant.userId),
        q: { maxDomains: 0, maxVcpus: 0, maxMemoryMiB: 0, maxDiskGiB: 0, maxInterfaces: 0, maxPortForwards: 1 },
      },
    );
    assert.deepEqual(quota.data.setQuota.quota, { limits: { maxPortForwards: 1 }, usage: { portForwards: 0 } });
    const r = (await s.gql(add, { input }, tenant.token)).data.addPortForward;
    assert.equal(r.code, 'UNSUPPORTED');
    assert.match(r.message, /port forwarding is unavailable: nftables is not available on this host/);
    assert.deepEqual(
      (await s.gql(`{ portForwards { totalCount edges { node { id } } } }`, {}, tenant.token)).data.portForwards,
      { totalCount: 0, edges: [] },
      'a failed forward is not kept',
    );
  });

  test('release unpins and frees the addresses of a domain', async () => {
    const { ipam, networks } = s.app.hosts[0]!;
    await undefineDomain(bus, await lookupDomainByUUID(bus, '/org/libvirt/Test', domains[0]!));
    for (const d of domains) await ipam.release(d);
    assert.equal(ipam.allocations().length, 0);
    const live = await readNetwork(bus, networks.byName('for-all-vms')!.path);
    assert.deepEqual(live.ipv4!.dhcpHosts, []);
    assert.deepEqual(networks.byName('for-all-vms')!.ipv4!.dhcpHosts, [], 'the cached network shows the unpin');
    const free = await s.gql(`query($id: ID!) { node(id: $id) { ... on Network { freeIpv4 leases { mac } } } }`, { id: networkId });
    assert.deepEqual(free.data.node, { freeIpv4: 5, leases: [] });
    const del = await s.gql(
      `mutation($id: ID!) { deleteNetwork(id: $id) { __typename ... on DeleteNetworkSuccess { deletedId network { id name active forwardMode bridge } } ... on Error { code message } } }`,
      { id: networkId },
    );
    // Like deleteDomain, the answer carries the object in its last state (stopped); deletedId stays for older clients.
    assert.deepEqual(
      del.data?.deleteNetwork,
      {
        __typename: 'DeleteNetworkSuccess',
        deletedId: networkId,
        network: { id: networkId, name: 'for-all-vms', active: false, forwardMode: 'ROUTE', bridge: 'guests1' },
      },
      JSON.stringify(del.errors),
    );
    assert.equal((await s.gql(`{ networks { totalCount } }`)).data.networks.totalCount, 1);
  });
});

describe('NAT port forward rules in nftables, rewritten from SQLite (test driver, real nft)', () => {
  const table = `vpt_${process.pid}_${Date.now().toString(36)}`;
  const nft = { binary: 'nft', table };
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-pf-'));
  let s: TestServer | undefined;
  const listRules = () => {
    const json = JSON.parse(execFileSync('nft', ['-j', 'list', 'table', 'inet', table], { encoding: 'utf8' }));
    return json.nftables
      .filter((x: any) => x.rule?.chain === 'prerouting')
      .map((x: any) => {
        const dnat = x.rule.expr.find((e: any) => e.dnat).dnat;
        const port = x.rule.expr.find((e: any) => e.match?.left?.payload?.field === 'dport').match;
        return `${port.left.payload.protocol} ${port.right} -> ${dnat.addr}:${dnat.port}`;
      });
  };

  after(async () => {
    await s?.stop();
    try {
      execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'ignore' });
    } catch {
      /* not there */
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('rules follow the pinned IPv4, host ports are unique per protocol, and a restart puts lost rules back', async () => {
    s = await startTestServer({ dataDir, nft });
    assert.deepEqual(listRules(), [], 'start-up writes the (empty) table');
    const { ipam } = s.app.hosts[0]!;
    const testDomain = '6695eb01-f6a4-8304-79aa-97f2502e193f';
    const net = s.app.services.networks.byName('default')!;
    const alloc = ipam.allocate({ networkUuid: net.uuid, domainUuid: testDomain, mac: 'aa:bb:cc:dd:ee:ff' });
    const add = `mutation($input: AddPortForwardInput!) { addPortForward(input: $input) { __typename ... on AddPortForwardSuccess { portForward { id protocol hostPort guestPort guestIpv4 domain { name } } } ... on Error { code message } } }`;
    const id = domainGlobalId(testDomain);
    const ssh = await s.gql(add, { input: { domainId: id, protocol: 'TCP', hostPort: 2222, guestPort: 22 } });
    assert.deepEqual(
      { ...ssh.data.addPortForward.portForward, id: undefined },
      { id: undefined, protocol: 'TCP', hostPort: 2222, guestPort: 22, guestIpv4: alloc.ipv4, domain: { name: 'test' } },
    );
    assert.equal(
      (await s.gql(add, { input: { domainId: id, protocol: 'TCP', hostPort: 2222, guestPort: 80 } })).data.addPortForward.code,
      'CONFLICT',
    );
    assert.equal(
      (await s.gql(add, { input: { domainId: id, protocol: 'UDP', hostPort: 2222, guestPort: 53 } })).data.addPortForward.__typename,
      'AddPortForwardSuccess',
    );
    assert.equal(
      (await s.gql(add, { input: { domainId: id, protocol: 'TCP', hostPort: 0, guestPort: 53 } })).data.addPortForward.code,
      'VALIDATION',
    );
    assert.deepEqual(listRules(), [`tcp 2222 -> ${alloc.ipv4}:22`, `udp 2222 -> ${alloc.ipv4}:53`]);

    const removed = await s.gql(`mutation($id: ID!) { removePortForward(id: $id) { __typename } }`, {
      id: ssh.data.addPortForward.portForward.id,
    });
    assert.equal(removed.data.removePortForward.__typename, 'RemovePortForwardSuccess');
    assert.deepEqual(listRules(), [`udp 2222 -> ${alloc.ipv4}:53`]);

    // The table vanishes behind the server's back (e.g. a firewall reload); a restart writes it again.
    await s.stop();
    s = undefined;
    execFileSync('nft', ['delete', 'table', 'inet', table]);
    s = await startTestServer({ dataDir, nft });
    assert.deepEqual(listRules(), [`udp 2222 -> ${alloc.ipv4}:53`]);
    const after = await s.gql(`{ portForwards { edges { node { protocol hostPort guestPort guestIpv4 } } } }`);
    assert.deepEqual(
      after.data.portForwards.edges.map((e: any) => e.node),
      [{ protocol: 'UDP', hostPort: 2222, guestPort: 53, guestIpv4: alloc.ipv4 }],
    );
    // Another start does not duplicate anything.
    await s.app.services.portForwards.apply();
    assert.deepEqual(listRules(), [`udp 2222 -> ${alloc.ipv4}:53`]);
  });

  test("tenants: forwards count against the domain owner's quota and move with the domain; no host port below 1024 nor the API port", async () => {
    const add = `mutation($input: AddPortForwardInput!) { addPortForward(input: $input) { __typename ... on AddPortForwardSuccess { portForward { id hostPort } } ... on Error { code message } } }`;
    const quotaOf = async (token?: string) =>
      (await s!.gql(`{ viewer { quota { limits { maxPortForwards } usage { portForwards } } } }`, {}, token)).data.viewer.quota;
    const tenant = async (name: string) => {
      const u = await s!.gql(`mutation($i: CreateUserInput!) { createUser(input: $i) { ... on CreateUserSuccess { user { id } } } }`, {
        i: { name, role: 'TENANT' },
      });
      const id = u.data.createUser.user.id;
      const t = await s!.gql(`mutation($u: ID!) { createApiToken(userId: $u, label: "t") { ... on CreateApiTokenSuccess { token } } }`, {
        u: id,
      });
      const q = { maxDomains: 1, maxVcpus: 1, maxMemoryMiB: 1024, maxDiskGiB: 1, maxInterfaces: 1, maxPortForwards: 2 };
      const set = await s!.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, { u: id, q });
      assert.equal(set.data.setQuota.__typename, 'SetQuotaSuccess');
      return { id, token: t.data.createApiToken.token as string };
    };
    const carol = await tenant('carol');
    const dave = await tenant('dave');
    const domainId = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');
    const before = (await s!.gql(`{ portForwards { totalCount } }`)).data.portForwards.totalCount;
    assert.ok(before >= 1, 'the forward kept from the previous test');
    assert.deepEqual(await quotaOf(carol.token), { limits: { maxPortForwards: 2 }, usage: { portForwards: 0 } });

    const assign = (userId: string) =>
      s!.gql(`mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on Error { message } } }`, {
        id: domainId,
        u: userId,
      });
    assert.equal((await assign(carol.id)).data.assignDomain.__typename, 'AssignDomainSuccess');
    assert.deepEqual(
      await quotaOf(carol.token),
      { limits: { maxPortForwards: 2 }, usage: { portForwards: before } },
      'the domain brought its forwards',
    );

    const input = (hostPort: number) => ({ input: { domainId, protocol: 'TCP', hostPort, guestPort: 22 } });
    const low = (await s!.gql(add, input(1023), carol.token)).data.addPortForward;
    assert.equal(low.code, 'VALIDATION', JSON.stringify(low));
    const apiPort = Number(new URL(s!.app.url).port);
    assert.equal((await s!.gql(add, input(apiPort), carol.token)).data.addPortForward.code, 'VALIDATION');
    const results = [];
    for (let port = 4000; port < 4000 + 3 - before; port++) results.push((await s!.gql(add, input(port), carol.token)).data.addPortForward);
    assert.deepEqual(
      results.slice(0, -1).map((r) => r.__typename),
      Array(2 - before).fill('AddPortForwardSuccess'),
    );
    assert.equal(results.at(-1).code, 'QUOTA_EXCEEDED', JSON.stringify(results));
    assert.deepEqual((await quotaOf(carol.token)).usage, { portForwards: 2 });

    assert.equal((await assign(dave.id)).data.assignDomain.__typename, 'AssignDomainSuccess');
    assert.deepEqual((await quotaOf(carol.token)).usage, { portForwards: 0 }, 'the forwards left with the domain');
    assert.deepEqual((await quotaOf(dave.token)).usage, { portForwards: 2 });
    assert.equal((await s!.gql(add, input(4100), dave.token)).data.addPortForward.code, 'QUOTA_EXCEEDED');

    // Admins are held to neither rule.
    const admin = (await s!.gql(add, input(1022))).data.addPortForward;
    assert.equal(admin.__typename, 'AddPortForwardSuccess', JSON.stringify(admin));
    assert.deepEqual((await quotaOf(dave.token)).usage, { portForwards: 3 }, 'counted against the owner even when an admin adds it');

    // A forward is a Node: its domain's owner and admins load it by its ID; anyone else finds nothing, as for an unknown ID.
    const NODE = `query($id: ID!) { node(id: $id) { __typename id ... on PortForward { hostPort domain { name } } } }`;
    const forward = { __typename: 'PortForward', id: admin.portForward.id, hostPort: 1022, domain: { name: 'test' } };
    for (const [who, token, node] of [
      ['admin', undefined, forward],
      ['dave, the owner', dave.token, forward],
      ['carol', carol.token, null],
    ] as const) {
      const r = await s!.gql(NODE, { id: admin.portForward.id }, token);
      assert.deepEqual([r.errors, r.data], [undefined, { node }], who);
    }
    const unknown = await s!.gql(NODE, { id: encodeGlobalID('PortForward', randomUUID()) });
    assert.deepEqual([unknown.errors, unknown.data], [undefined, { node: null }]);

    // portForwards pages like every connection: by protocol, then host port as a number (1022 before 2222).
    const PAGE = `query($a: String) { portForwards(first: 2, after: $a) { totalCount edges { node { protocol hostPort } } pageInfo { hasNextPage endCursor } } }`;
    const p1 = (await s!.gql(PAGE, { a: null }, dave.token)).data.portForwards;
    const p2 = (await s!.gql(PAGE, { a: p1.pageInfo.endCursor }, dave.token)).data.portForwards;
    assert.deepEqual(
      [
        p1.totalCount,
        p1.pageInfo.hasNextPage,
        p2.pageInfo.hasNextPage,
        [...p1.edges, ...p2.edges].map((e: any) => `${e.node.protocol} ${e.node.hostPort}`),
      ],
      [3, true, false, ['TCP 1022', 'TCP 4000', 'UDP 2222']],
    );
  });

  test('deleteNetwork answers a virtplane NAT network (an open one in libvirt) as NAT, its last state', async () => {
    const input = {
      ...SEED_NETWORK,
      name: 'nat-gone',
      forwardMode: 'NAT',
      forwardDevice: null,
      bridge: 'vpnatgone0',
      ipv6: null,
      ipv4: { address: '198.51.100.1', prefix: 28, dhcpRange: { start: '198.51.100.2', end: '198.51.100.14' } },
    };
    const made = await s!.gql(CREATE, { input });
    assert.equal(made.data.createNetwork.network?.forwardMode, 'NAT', JSON.stringify(made));
    const del = await s!.gql(
      `mutation($id: ID!) { deleteNetwork(id: $id) { ... on DeleteNetworkSuccess { network { name active forwardMode } } ... on Error { code message } } }`,
      {
        id: made.data.createNetwork.network.id,
      },
    );
    assert.deepEqual(del.data.deleteNetwork, { network: { name: 'nat-gone', active: false, forwardMode: 'NAT' } });
  });

  test('deleting a domain whose rules cannot be taken out fails and keeps its address; a retry finishes it', async () => {
    // nft as the server runs it: the real one, unless the flag file says it is to fail.
    const flag = join(dataDir, 'nft-fails');
    const wrapper = join(dataDir, 'nft-wrapper');
    writeFileSync(wrapper, `#!/bin/sh\nif [ -e '${flag}' ]; then echo 'simulated failure' >&2; exit 1; fi\nexec nft "$@"\n`, {
      mode: 0o755,
    });
    await s!.stop();
    s = await startTestServer({ dataDir, nft: { binary: wrapper, table } });
    const made =
      await s.gql(`mutation { createDomain(input: { name: "forwarded", vcpus: 1, memoryMiB: 64, diskGiB: 1, network: "default" }) {
      ... on CreateDomainSuccess { domain { id uuid interfaces { ipv4 } } } ... on Error { code message } } }`);
    const domain = made.data.createDomain.domain;
    assert.ok(domain?.interfaces[0].ipv4, JSON.stringify(made));
    const ipv4 = domain.interfaces[0].ipv4;
    const add = await s.gql(
      `mutation($input: AddPortForwardInput!) { addPortForward(input: $input) { __typename ... on Error { message } } }`,
      {
        input: { domainId: domain.id, protocol: 'TCP', hostPort: 2345, guestPort: 22 },
      },
    );
    assert.equal(add.data.addPortForward.__typename, 'AddPortForwardSuccess', JSON.stringify(add));
    assert.ok(listRules().includes(`tcp 2345 -> ${ipv4}:22`), `the forward's rule is there: ${JSON.stringify(listRules())}`);

    const DELETE = `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`;
    writeFileSync(flag, '');
    try {
      const failed = (await s.gql(DELETE, { id: domain.id })).data.deleteDomain;
      assert.equal(failed.code, 'UNSUPPORTED', JSON.stringify(failed));
      // The rule is still in the kernel, so its address must stay taken: nobody else may get it yet.
      assert.ok(listRules().includes(`tcp 2345 -> ${ipv4}:22`), `the forward's rule is still there: ${JSON.stringify(listRules())}`);
      assert.equal(s.app.hosts[0]!.ipam.primaryIpv4(domain.uuid)?.ipv4, ipv4, "the address is still the deleted domain's");
      const forwards = await s.gql(`{ portForwards { edges { node { hostPort } } } }`);
      assert.ok(
        forwards.data.portForwards.edges.some((e: any) => e.node.hostPort === 2345),
        'the forward is still listed',
      );
      // A restart cannot finish it either: start-up reconciliation keeps what the deletion holds.
      await s.stop();
      s = await startTestServer({ dataDir, nft: { binary: wrapper, table } });
      assert.equal(s.app.hosts[0]!.ipam.primaryIpv4(domain.uuid)?.ipv4, ipv4, 'the address is kept across the restart');
      const db = new Database(join(dataDir, 'virtplane.sqlite'), { readonly: true });
      try {
        for (const table of ['reservations', 'domain_owners', 'domain_deletions']) {
          const n = (db.prepare(`select count(*) as n from ${table} where domain_uuid = ?`).get(domain.uuid) as { n: number }).n;
          assert.equal(n, 1, `${table} keeps the unfinished deletion's row`);
        }
      } finally {
        db.close();
      }
      assert.ok(listRules().includes(`tcp 2345 -> ${ipv4}:22`), `the forward's rule is still there: ${JSON.stringify(listRules())}`);
    } finally {
      rmSync(flag, { force: true });
    }
    const retried = (await s.gql(DELETE, { id: domain.id })).data.deleteDomain;
    assert.equal(retried.__typename, 'DeleteDomainSuccess', JSON.stringify(retried));
    assert.ok(!listRules().some((r: string) => r.startsWith('tcp 2345')), 'the rule is gone');
    assert.equal(s.app.hosts[0]!.ipam.primaryIpv4(domain.uuid), null);
  });
});
