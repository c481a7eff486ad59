import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { VIR_DOMAIN_XML_INACTIVE } from '../../src/libvirt/constants.js';
import { getDomainXml } from '../../src/libvirt/domain.js';
import { deleteDhcpHost } from '../../src/libvirt/network.js';
import { createVolume, deleteVolume, listVolumes, lookupPool, lookupVolume, readVolume } from '../../src/libvirt/storage.js';
import type { DomainRecord } from '../../src/model/index.js';
import { eui64Address, formatIp } from '../../src/services/network/addresses.js';
import { TEST_DRIVER } from '../helpers/libvirt-stack.js';
import { ADMIN_TOKEN, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant, eventually } from '../helpers/tenants.js';

const GiB = 1024 ** 3;
const POOL = 'virtplane';
const QUOTA = { maxDomains: 20, maxVcpus: 8, maxMemoryMiB: 4096, maxDiskGiB: 100, maxInterfaces: 20 };

const DOMAIN_FIELDS = `id uuid name state vcpus memoryMiB interfaces { mac ipv4 ipv4Assignment ipv6 ipv6Assignment network { name } } disks { target device source capacityBytes image { name path } } graphics { type listen }`;
const CREATE = `mutation($i: CreateDomainInput!) { r: createDomain(input: $i) { __typename
  ... on CreateDomainSuccess { domain { ${DOMAIN_FIELDS} } }
  ... on ValidationError { field } ... on QuotaExceededError { resource } ... on Error { code message } } }`;
const DELETE = `mutation($id: ID!, $k: Boolean) { r: deleteDomain(id: $id, keepDisk: $k) { __typename ... on DeleteDomainSuccess { domain { name } } ... on Error { code message } } }`;
const RESIZE = `mutation($id: ID!, $i: ResizeDomainInput!) { r: resizeDomain(id: $id, input: $i) { __typename
  ... on ResizeDomainSuccess { domain { ${DOMAIN_FIELDS} } }
  ... on ValidationError { field } ... on QuotaExceededError { resource limit used requested } ... on Error { code message } } }`;
const ACTION = (m: string) =>
  `mutation($id: ID!) { r: ${m}(id: $id) { __typename ... on DomainActionSuccess { domain { state } } ... on Error { code message } } }`;
const USAGE = `{ viewer { quota { usage { domains vcpus memoryMiB diskGiB interfaces } } } }`;
const NETWORK = `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { __typename ... on Error { code message } } }`;

describe('provisioning over GraphQL (test driver): create, undo, delete, resize, reconcile', () => {
  let s: TestServer;
  let bus: LibvirtBus;
  let alice: { id: string; token: string };
  let host: { cpus: number; memoryMiB: number; domainType: string };

  const create = (input: Record<string, unknown>, token = alice.token) =>
    s.gql(CREATE, { i: { vcpus: 1, memoryMiB: 128, diskGiB: 2, network: 'lab', ...input } }, token).then((r) => {
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      return r.data.r;
    });
  const gqlR = async (query: string, variables: Record<string, unknown>, token = alice.token) => {
    const r = await s.gql(query, variables, token);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    return r.data.r;
  };
  const usage = async () => (await s.gql(USAGE, {}, alice.token)).data.viewer.quota.usage;

  /** Rows of every table provisioning writes, per table. */
  function rows(): Record<string, unknown[]> {
    const db = new Database(join(s.dataDir, 'virtplane.sqlite'), { readonly: true });
    try {
      const out: Record<string, unknown[]> = {};
      for (const t of ['reservations', 'domain_owners', 'mac_leases', 'ip_allocations', 'domain_deletions', 'kept_volumes']) {
        out[t] = db.prepare(`select * from ${t} order by 1`).all();
      }
      return out;
    } finally {
      db.close();
    }
  }

  /** Events logged about domains of that name. */
  function eventsAbout(name: string): number {
    const db = new Database(join(s.dataDir, 'virtplane.sqlite'), { readonly: true });
    try {
      return (db.prepare(`select count(*) as n from events where subject_name = ?`).get(name) as { n: number }).n;
    } finally {
      db.close();
    }
  }

  async function volumeNames(): Promise<string[]> {
    const pool = await lookupPool(bus, TEST_DRIVER, POOL);
    return (await Promise.all((await listVolumes(bus, pool)).map(async (v) => (await readVolume(bus, v)).name))).sort();
  }

  async function dhcpHosts(network: string): Promise<string[]> {
    const [path] = await bus.call(TEST_DRIVER, 'org.libvirt.Connect', 'NetworkLookupByName', 's', [network]);
    const [xml] = await bus.call(path as string, 'org.libvirt.Network', 'GetXMLDesc', 'u', [0]);
    return [...(xml as string).matchAll(/<host [^>]*>/g)].map((m) => m[0]);
  }

  /** Everything a create could leave behind: libvirt domains, volumes, DHCP hosts, and the SQLite rows. */
  async function everything() {
    const domains = (await s.gql(`{ domains(first: 500) { edges { node { name } } } }`)).data.domains.edges
      .map((e: any) => e.node.name)
      .sort();
    return { domains, volumes: await volumeNames(), hosts: await dhcpHosts('lab'), tinyHosts: await dhcpHosts('tiny'), rows: rows() };
  }

  before(async () => {
    s = await startTestServer();
    bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    alice = addTenant(s.dataDir, 'alice');
    const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: Buffer.from(`User:${alice.id}`).toString('base64'),
      q: QUOTA,
    });
    assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess', JSON.stringify(q));
    for (const input of [
      {
        name: 'lab',
        forwardMode: 'ISOLATED',
        bridge: 'vplab0',
        start: true,
        ipv4: { address: '203.0.113.1', prefix: 24, dhcpRange: { start: '203.0.113.100', end: '203.0.113.199' } },
        ipv6: { address: '2001:db8:77::1', prefix: 64 },
      },
      {
        name: 'tiny',
        forwardMode: 'ISOLATED',
        bridge: 'vptiny0',
        start: true,
        ipv4: { address: '198.51.100.1', prefix: 29, dhcpRange: { start: '198.51.100.2', end: '198.51.100.2' } },
      },
    ]) {
      const n = await s.gql(NETWORK, { input });
      assert.equal(n.data.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(n));
    }
    await createVolume(bus, await lookupPool(bus, TEST_DRIVER, 'default-pool'), { name: 'install.iso', capacityBytes: 4 * 1024 ** 2 });
    const img = await s.gql(
      `mutation { addImage(name: "installer", path: "/default-pool/install.iso") { __typename ... on Error { message } } }`,
    );
    assert.equal(img.data.addImage.__typename, 'AddImageSuccess', JSON.stringify(img));
    host = (await s.gql(`{ host { cpus memoryMiB domainType } }`)).data.host;
  });
  after(async () => {
    bus?.disconnect();
    await s?.stop();
  });

  test('createDomain builds the seed template: volume in the pool, install CD-ROM, NIC with pinned addresses, console, started', async () => {
    assert.equal(host.domainType, 'test');
    const r = await create({
      name: 'web-1',
      vcpus: 2,
      memoryMiB: 256,
      diskGiB: 3,
      installImage: 'installer',
      start: true,
      graphics: 'SPICE',
    });
    assert.equal(r.__typename, 'CreateDomainSuccess', JSON.stringify(r));
    const d = r.domain;
    assert.deepEqual([d.name, d.state, d.vcpus, d.memoryMiB], ['web-1', 'RUNNING', 2, 256]);
    const [nic] = d.interfaces;
    assert.match(nic.mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
    assert.equal(nic.network.name, 'lab');
    assert.match(nic.ipv4, /^203\.0\.113\.1\d\d$/);
    assert.equal(nic.ipv6, formatIp(eui64Address('2001:db8:77::', nic.mac)!), "on a /64 the IPv6 is the MAC's EUI-64 address");
    assert.deepEqual([nic.ipv4Assignment, nic.ipv6Assignment], ['DHCP', 'SLAAC']);
    // The tenant sees the install image by name; its file on the host only admins see.
    assert.deepEqual(d.disks, [
      { target: 'vda', device: 'disk', source: `vp-${d.uuid}.qcow2`, capacityBytes: 3 * GiB, image: null },
      { target: 'sda', device: 'cdrom', source: null, capacityBytes: null, image: { name: 'installer', path: null } },
    ]);
    const asAdmin = (
      await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { disks { source image { name path } } } } }`, { id: d.id })
    ).data.node;
    assert.deepEqual(asAdmin.disks[1], {
      source: '/default-pool/install.iso',
      image: { name: 'installer', path: '/default-pool/install.iso' },
    });
    assert.deepEqual(d.graphics, [{ type: 'SPICE', listen: '127.0.0.1' }]);
    assert.ok(
      (await dhcpHosts('lab')).some((h) => h.includes(nic.mac) && h.includes(nic.ipv4)),
      'DHCP host pinned',
    );
    assert.deepEqual(await usage(), { domains: 1, vcpus: 2, memoryMiB: 256, diskGiB: 3, interfaces: 1 });

    const path = (await bus.call(TEST_DRIVER, 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [d.uuid]))[0] as string;
    const xml = await getDomainXml(bus, path, VIR_DOMAIN_XML_INACTIVE);
    for (const part of [
      /<cpu mode=["']host-model["']/,
      /<acpi\/>/,
      /<apic\/>/,
      /<on_poweroff>destroy</,
      /<on_reboot>restart</,
      /<on_crash>restart</,
      /<rom enabled=["']no["']\/>/,
      /<boot order=["']1["']\/>/,
      /<serial type=["']pty["']>/,
    ]) {
      assert.match(xml, part);
    }
    const c = (await s.gql(`query($id: ID!) { domainConsole(id: $id) { type password } }`, { id: d.id }, alice.token)).data.domainConsole;
    assert.equal(c.type, 'SPICE');
    assert.match(c.password, /^[A-Za-z0-9]{20}$/);
  });

  test('DEFINED reports the state at the definition, however far a start got before its re-read', async () => {
    // What createDomain(start: true) does on a real host, where QEMU starting races the re-read behind
    // DEFINED: here the define and the start are sent back to back, so libvirt has run both before the server
    // even hears of the definition, and its re-read finds the domain RUNNING.
    const uuid = randomUUID();
    const path = `${TEST_DRIVER}/domain/_${uuid.replace(/-/g, '_')}`;
    const xml = `<domain type='test'><name>raced</name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`;
    const defined = bus.call(TEST_DRIVER, 'org.libvirt.Connect', 'DomainDefineXML', 's', [xml]);
    // libvirt-dbus runs calls on several threads: the start may overtake the definition, then it goes again.
    const started = bus.call(path, 'org.libvirt.Domain', 'Create', 'u', [0]).catch(async () => {
      await defined;
      return bus.call(path, 'org.libvirt.Domain', 'Create', 'u', [0]);
    });
    try {
      await Promise.all([defined, started]);
      const logged = async () => {
        const q = await s.gql(
          `query($d: ID!) { events(first: 10, filter: { domainId: $d }) { edges { node { type state domain { name state } } } } }`,
          { d: domainGlobalId(uuid) },
        );
        const seen = q.data.events.edges.map((e: any) => [e.node.type, e.node.state, e.node.domain.name, e.node.domain.state]);
        return seen.some(([type]: string[]) => type === 'STARTED') ? seen : null;
      };
      assert.deepEqual((await eventually(logged, 'the STARTED event')).slice(0, 2), [
        ['DEFINED', 'SHUTOFF', 'raced', 'SHUTOFF'],
        ['STARTED', 'RUNNING', 'raced', 'RUNNING'],
      ]);
    } finally {
      await bus.call(path, 'org.libvirt.Domain', 'Destroy', 'u', [0]).catch(() => undefined);
      await bus.call(path, 'org.libvirt.Domain', 'Undefine', 'u', [0]).catch(() => undefined);
      // The next tests compare snapshots of everything: the server must have heard that it went.
      await eventually(async () => ((await everything()).domains.includes('raced') ? null : true), 'the server seeing raced go');
    }
  });

  test('bad specs are refused with typed errors before anything is touched', async () => {
    const before = await everything();
    const cases: [Record<string, unknown>, string, string | null][] = [
      [{ name: '' }, 'VALIDATION', 'name'],
      [{ name: 'a'.repeat(65) }, 'VALIDATION', 'name'],
      [{ name: 'has space' }, 'VALIDATION', 'name'],
      [{ name: `x<y&"']]>` }, 'VALIDATION', 'name'],
      [{ name: '-lead' }, 'VALIDATION', 'name'],
      [{ name: 'web-1' }, 'CONFLICT', null],
      [{ vcpus: 0 }, 'VALIDATION', 'vcpus'],
      [{ vcpus: host.cpus + 1 }, 'VALIDATION', 'vcpus'],
      [{ memoryMiB: 16 }, 'VALIDATION', 'memoryMiB'],
      [{ memoryMiB: host.memoryMiB + 1 }, 'VALIDATION', 'memoryMiB'],
      [{ diskGiB: 0 }, 'VALIDATION', 'diskGiB'],
      [{ diskGiB: 1025 }, 'VALIDATION', 'diskGiB'],
      [{ network: 'nope' }, 'VALIDATION', 'network'],
      [{ installImage: 'nope' }, 'VALIDATION', 'installImage'],
      [{ vcpus: 7 }, 'QUOTA_EXCEEDED', null], // 2 in use, 8 allowed; the host has 8
    ];
    for (const [extra, code, field] of cases) {
      const r = await create({ name: 'ok-name', ...extra });
      assert.equal(r.code, code, `${JSON.stringify(extra)} → ${JSON.stringify(r)}`);
      if (field) assert.equal(r.field, field, JSON.stringify(extra));
    }
    assert.deepEqual(await everything(), before);
  });

  test('a failure in the middle of create is undone: exhausted network, vanished install image, name taken concurrently', async () => {
    const first = await create({ name: 'tiny-1', network: 'tiny' });
    assert.equal(first.__typename, 'CreateDomainSuccess', JSON.stringify(first));
    assert.equal(first.domain.interfaces[0].ipv4, '198.51.100.2');

    // No address left: MAC and reservation are given back.
    let before = await everything();
    const exhausted = await create({ name: 'tiny-2', network: 'tiny' });
    assert.equal(exhausted.code, 'ADDRESS_EXHAUSTED', JSON.stringify(exhausted));
    assert.deepEqual(await everything(), before);

    // The image's file went away after it was published: found after the volume was made, which is deleted again.
    const pool = await lookupPool(bus, TEST_DRIVER, 'default-pool');
    await createVolume(bus, pool, { name: 'gone.iso', capacityBytes: 1024 ** 2 });
    const img = await s.gql(`mutation { addImage(name: "gone", path: "/default-pool/gone.iso") { __typename } }`);
    assert.equal(img.data.addImage.__typename, 'AddImageSuccess');
    await deleteVolume(bus, await lookupVolume(bus, pool, 'gone.iso'));
    before = await everything();
    const vanished = await create({ name: 'needs-iso', installImage: 'gone', start: true });
    assert.deepEqual([vanished.code, vanished.field], ['VALIDATION', 'installImage'], JSON.stringify(vanished));
    assert.deepEqual(await everything(), before);

    // Two creates of one name at once: one wins, the other is refused, and only the winner left anything.
    const [a, b] = await Promise.all([create({ name: 'twin', start: true }), create({ name: 'twin', start: true })]);
    const kinds = [a.__typename, b.__typename].sort();
    assert.deepEqual(kinds, ['ConflictError', 'CreateDomainSuccess'], JSON.stringify([a, b]));
    const winner = a.__typename === 'CreateDomainSuccess' ? a.domain : b.domain;
    const after = await everything();
    assert.deepEqual(after.domains, [...before.domains, 'twin'].sort());
    assert.deepEqual(after.volumes, [...before.volumes, `vp-${winner.uuid}.qcow2`].sort());
    assert.equal(after.rows.reservations!.length, before.rows.reservations!.length + 1);
    assert.equal(after.rows.ip_allocations!.length, before.rows.ip_allocations!.length + 1);
    assert.equal(after.rows.mac_leases!.length, before.rows.mac_leases!.length + 1);
    // By now the twins' events are logged, so any of the refused create's would be too: there are none.
    assert.equal(eventsAbout('needs-iso'), 0, 'a create refused on the way announced no domain');
  });

  test('deleteDomain stops, undefines, deletes the volume and releases addresses, MAC and quota; keepDisk keeps the volume', async () => {
    const made = await create({ name: 'short-lived', start: true, diskGiB: 4 });
    assert.equal(made.__typename, 'CreateDomainSuccess');
    const before = await everything();
    const r = await gqlR(DELETE, { id: made.domain.id });
    assert.deepEqual(r, { __typename: 'DeleteDomainSuccess', domain: { name: 'short-lived' } });
    const after = await everything();
    assert.deepEqual(
      after.domains,
      before.domains.filter((n: string) => n !== 'short-lived'),
    );
    assert.deepEqual(
      after.volumes,
      before.volumes.filter((v) => v !== `vp-${made.domain.uuid}.qcow2`),
    );
    assert.ok(!after.hosts.some((h) => h.includes(made.domain.interfaces[0].mac)), 'DHCP host removed');
    for (const [table, list] of Object.entries(after.rows)) {
      assert.ok(!JSON.stringify(list).includes(made.domain.uuid), `${table} still mentions the domain`);
    }
    // The in-memory mirror of ownership forgets it too: a domain later defined with this UUID belongs to no one.
    const sameUuid = { uuid: made.domain.uuid, metadata: { ownerId: null } } as unknown as DomainRecord;
    assert.equal(s.app.services.access.ownerOf(sameUuid), null, 'ownership kept in memory');
    assert.equal((await gqlR(DELETE, { id: made.domain.id })).code, 'NOT_FOUND');

    const kept = await create({ name: 'keeper' });
    const k = await gqlR(DELETE, { id: kept.domain.id, k: true });
    assert.equal(k.__typename, 'DeleteDomainSuccess');
    assert.ok((await volumeNames()).includes(`vp-${kept.domain.uuid}.qcow2`), 'the disk is kept');
    assert.deepEqual(
      rows().kept_volumes!.map((v: any) => [v.pool, v.volume, v.domain_name]),
      [[POOL, `vp-${kept.domain.uuid}.qcow2`, 'keeper']],
    );
    const u = await usage();
    assert.equal(u.domains, after.domains.filter((n: string) => n !== 'test').length);
  });

  test('a start or resize racing a delete or resize is refused or done first: never a running domain whose quota and disk were freed', async () => {
    const usageBefore = await usage();
    const domainsBefore = (await everything()).domains;
    for (let round = 0; round < 4; round++) {
      const made = (await create({ name: `racer-${round}` })).domain;
      const [del, start] = await Promise.all([gqlR(DELETE, { id: made.id }), gqlR(ACTION('startDomain'), { id: made.id })]);
      assert.equal(del.__typename, 'DeleteDomainSuccess', JSON.stringify(del));
      // The start either ran before the delete (which then stopped the domain) or was refused.
      assert.ok(
        start.__typename === 'DomainActionSuccess' || start.code === 'INVALID_STATE' || start.code === 'NOT_FOUND',
        JSON.stringify(start),
      );
      const after = await everything();
      assert.deepEqual(after.domains, domainsBefore, `round ${round}: the domain is gone from libvirt`);
      assert.ok(!after.volumes.includes(`vp-${made.uuid}.qcow2`), "the deleted domain's volume is gone");
      assert.deepEqual(await usage(), usageBefore);

      const stopped = (await create({ name: `grower-${round}` })).domain;
      const [resized, started] = await Promise.all([
        gqlR(RESIZE, { id: stopped.id, i: { vcpus: 2 } }),
        gqlR(ACTION('startDomain'), { id: stopped.id }),
      ]);
      // Never a resize answered as done on a domain that is running with its old size.
      if (resized.__typename === 'ResizeDomainSuccess') assert.equal(resized.domain.vcpus, 2, JSON.stringify([resized, started]));
      else assert.equal(resized.code, 'INVALID_STATE', JSON.stringify(resized));
      if (started.__typename !== 'DomainActionSuccess') assert.equal(started.code, 'INVALID_STATE', JSON.stringify(started));
      await gqlR(ACTION('destroyDomain'), { id: stopped.id });
      assert.equal((await gqlR(DELETE, { id: stopped.id })).__typename, 'DeleteDomainSuccess');
    }
  });

  test('a delete that failed part-way (storage pool stopped) is finished by retrying it', async () => {
    const usageBefore = await usage();
    const made = (await create({ name: 'half-gone', start: true })).domain;
    const pool = await lookupPool(bus, TEST_DRIVER, POOL);
    await bus.call(pool, 'org.libvirt.StoragePool', 'Destroy');
    let failed;
    try {
      failed = await gqlR(DELETE, { id: made.id });
    } finally {
      await bus.call(pool, 'org.libvirt.StoragePool', 'Create', 'u', [0]);
    }
    assert.equal(failed.code, 'INVALID_STATE', JSON.stringify(failed));
    assert.notDeepEqual(await usage(), usageBefore, 'nothing released while the disk is still there');
    // A create meanwhile fails as data too (not a GraphQL error), and leaves nothing.
    await bus.call(pool, 'org.libvirt.StoragePool', 'Destroy');
    try {
      const refused = await create({ name: 'no-pool' });
      assert.equal(refused.__typename, 'InvalidStateError', JSON.stringify(refused));
    } finally {
      await bus.call(pool, 'org.libvirt.StoragePool', 'Create', 'u', [0]);
    }
    assert.ok(!(await everything()).domains.includes('no-pool'), 'the refused create left no domain');
    // Someone else still gets NOT_FOUND, as for any domain not theirs.
    const bob = addTenant(s.dataDir, 'bob-half');
    assert.equal((await gqlR(DELETE, { id: made.id }, bob.token)).code, 'NOT_FOUND');
    const retried = await gqlR(DELETE, { id: made.id });
    assert.deepEqual(retried, { __typename: 'DeleteDomainSuccess', domain: { name: 'half-gone' } });
    assert.deepEqual(await usage(), usageBefore);
    assert.ok(!(await volumeNames()).includes(`vp-${made.uuid}.qcow2`), 'volume deleted');
    for (const [table, list] of Object.entries(rows()))
      assert.ok(!JSON.stringify(list).includes(made.uuid), `${table} still mentions the domain`);
    assert.equal((await gqlR(DELETE, { id: made.id })).code, 'NOT_FOUND', 'once done, the domain is gone');

    // A row from before deletions recorded their domain: an admin may still finish it; a tenant finds nothing.
    const old = randomUUID();
    const db = new Database(join(s.dataDir, 'virtplane.sqlite'));
    try {
      db.prepare(`insert into domain_deletions (domain_uuid, domain_name, keep_disk, volumes) values (?, 'old-row', 0, '[]')`).run(old);
    } finally {
      db.close();
    }
    const oldId = domainGlobalId(old);
    assert.equal((await gqlR(DELETE, { id: oldId })).code, 'NOT_FOUND');
    assert.deepEqual((await s.gql(DELETE, { id: oldId })).data.r, { __typename: 'DeleteDomainSuccess', domain: { name: 'old-row' } });
    assert.ok(!JSON.stringify(rows().domain_deletions).includes(old), 'the finished deletion left no deletion record');
  });

  test('resizeDomain: stopped only, through the quota, a failure is undone; the definition keeps MAC, console password and image', async () => {
    const made = (await create({ name: 'grow-me', diskGiB: 2, installImage: 'installer' })).domain;
    const console = async () =>
      (await s.gql(`query($id: ID!) { domainConsole(id: $id) { password } }`, { id: made.id }, alice.token)).data.domainConsole.password;
    const password = await console();
    const usageBefore = await usage();

    // The test driver cannot resize volumes: the failure puts the definition and the reservation back.
    const unsupported = await gqlR(RESIZE, { id: made.id, i: { vcpus: 3, memoryMiB: 512, diskGiB: 5 } });
    assert.equal(unsupported.code, 'UNSUPPORTED', JSON.stringify(unsupported));
    const unchanged = (await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { vcpus memoryMiB } } }`, { id: made.id })).data.node;
    assert.deepEqual(unchanged, { vcpus: 1, memoryMiB: 128 });
    assert.deepEqual(await usage(), usageBefore);

    const r = await gqlR(RESIZE, { id: made.id, i: { vcpus: 3, memoryMiB: 512 } });
    assert.equal(r.__typename, 'ResizeDomainSuccess', JSON.stringify(r));
    assert.deepEqual([r.domain.vcpus, r.domain.memoryMiB, r.domain.disks[0].capacityBytes], [3, 512, 2 * GiB]);
    assert.deepEqual(r.domain.interfaces, made.interfaces);
    assert.equal(r.domain.disks[1].image?.name, 'installer');
    assert.equal(await console(), password);
    assert.deepEqual(await usage(), { ...usageBefore, vcpus: usageBefore.vcpus + 2, memoryMiB: usageBefore.memoryMiB + 384 });

    const shrink = await gqlR(RESIZE, { id: made.id, i: { diskGiB: 1 } });
    assert.deepEqual([shrink.code, shrink.field], ['VALIDATION', 'diskGiB']);
    const over = await gqlR(RESIZE, { id: made.id, i: { vcpus: 5 } });
    assert.equal(over.__typename, 'QuotaExceededError', JSON.stringify(over));
    assert.equal(over.resource, 'VCPUS');
    const huge = await gqlR(RESIZE, { id: made.id, i: { vcpus: host.cpus + 1 } });
    assert.deepEqual([huge.code, huge.field], ['VALIDATION', 'vcpus']);
    assert.deepEqual(await usage(), { ...usageBefore, vcpus: usageBefore.vcpus + 2, memoryMiB: usageBefore.memoryMiB + 384 });

    assert.equal((await gqlR(ACTION('startDomain'), { id: made.id })).domain.state, 'RUNNING');
    const running = await gqlR(RESIZE, { id: made.id, i: { vcpus: 1 } });
    assert.equal(running.code, 'INVALID_STATE');
    assert.equal((await gqlR(ACTION('destroyDomain'), { id: made.id })).domain.state, 'SHUTOFF');
    const bob = addTenant(s.dataDir, 'bob');
    assert.equal((await gqlR(RESIZE, { id: made.id, i: { vcpus: 1 } }, bob.token)).code, 'NOT_FOUND');
  });

  test('start-up reconciliation finishes an interrupted delete and removes orphan volumes, reservations and leases', async () => {
    // An interrupted delete: recorded, and the domain already undefined, but its volume, addresses and quota remain.
    const half = (await create({ name: 'half-deleted', start: true })).domain;
    const volume = `vp-${half.uuid}.qcow2`;
    const orphan = `vp-${randomUUID()}.qcow2`;
    const pool = await lookupPool(bus, TEST_DRIVER, POOL);
    await createVolume(bus, pool, { name: orphan, capacityBytes: 1024 ** 2 });
    await createVolume(bus, pool, { name: 'not-ours.qcow2', capacityBytes: 1024 ** 2 });
    const stale = randomUUID();
    const db = new Database(join(s.dataDir, 'virtplane.sqlite'));
    try {
      db.prepare(`insert into domain_deletions (domain_uuid, domain_name, keep_disk, volumes) values (?, ?, 0, ?)`).run(
        half.uuid,
        half.name,
        JSON.stringify([{ pool: POOL, volume }]),
      );
      db.prepare(`insert into reservations (domain_uuid, user_id, vcpus, memory_mib, disk_gib, interfaces) values (?, ?, 1, 64, 1, 1)`).run(
        stale,
        alice.id,
      );
      db.prepare(`insert into mac_leases (mac, domain_uuid) values ('52:54:00:fe:fe:fe', ?)`).run(stale);
    } finally {
      db.close();
    }
    const path = (await bus.call(TEST_DRIVER, 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [half.uuid]))[0] as string;
    await bus.call(path, 'org.libvirt.Domain', 'Destroy', 'u', [0]);
    await bus.call(path, 'org.libvirt.Domain', 'Undefine', 'u', [0]);
    await eventually(
      async () => ((await s.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: half.id })).data.node === null ? true : null),
      'the domain gone',
    );
    // The UNDEFINED event did not release anything: the recorded deletion owns that.
    assert.ok(JSON.stringify(rows().reservations).includes(half.uuid), 'the UNDEFINED event released no reservation');

    const report = await s.app.hosts[0]!.provisioning.reconcile();
    assert.deepEqual(
      { ...report },
      { deletionsFinished: 1, reservationsDropped: 1, addressesReleased: 1, addressesPinned: 0, volumesDeleted: 1, ownershipRebuilt: 0 },
    );
    const names = await volumeNames();
    assert.ok(!names.includes(volume) && !names.includes(orphan), names.join(' '));
    assert.ok(names.includes('not-ours.qcow2'), 'volumes not named like ours are left alone');
    assert.equal(
      names.filter((n) => n.startsWith('vp-')).length,
      (await everything()).domains.filter((n: string) => n !== 'test').length + 1,
      'live domains + the kept disk',
    );
    const after = JSON.stringify(rows());
    assert.ok(!after.includes(half.uuid) && !after.includes(stale), after);
    assert.deepEqual(await s.app.hosts[0]!.provisioning.reconcile(), {
      deletionsFinished: 0,
      reservationsDropped: 0,
      addressesReleased: 0,
      addressesPinned: 0,
      volumesDeleted: 0,
      ownershipRebuilt: 0,
    });
  });

  test('a NIC shows as pinned while the network holds its DHCP host; reconciliation pins it again when it went', async () => {
    const made = (await create({ name: 'repinned' })).domain;
    const nic = made.interfaces[0];
    const host = (h: string) => h.includes(nic.mac) && h.includes(nic.ipv4);
    const LEASE = `query($id: ID!) { node(id: $id) { ... on Network { leases { mac pinned } } } }`;
    const lab = s.app.services.networks.byName('lab')!;
    const networkId = (await s.gql(`{ networks { edges { node { id name } } } }`)).data.networks.edges.find(
      (e: { node: { name: string } }) => e.node.name === 'lab',
    ).node.id;
    const pinned = async () =>
      (await s.gql(LEASE, { id: networkId })).data.node.leases.find((l: { mac: string }) => l.mac === nic.mac).pinned;
    assert.equal(await pinned(), true);

    // Someone removes the entry behind virtplane's back (libvirt announces no event for it); the next re-read
    // of the network (here the one after an autostart change) shows it gone.
    await deleteDhcpHost(bus, lab, { mac: nic.mac, ip: nic.ipv4 });
    const autostart = `mutation($id: ID!, $a: Boolean!) { setNetworkAutostart(id: $id, autostart: $a) { __typename } }`;
    await s.gql(autostart, { id: networkId, a: lab.autostart });
    assert.ok(!(await dhcpHosts('lab')).some(host), 'the DHCP host is gone from the network');
    assert.equal(await pinned(), false, 'the lease shows what libvirt has');

    // A NIC on a network without DHCP has nothing to pin: reconciliation neither tries nor counts it.
    const network = await s.gql(NETWORK, {
      input: { name: 'static', forwardMode: 'ISOLATED', bridge: 'vpstatic0', start: true, ipv4: { address: '198.51.100.65', prefix: 28 } },
    });
    assert.equal(network.errors, undefined, JSON.stringify(network.errors));
    const fixed = (await create({ name: 'static-addressed', network: 'static' }, ADMIN_TOKEN)).domain; // alice's quota is spent
    assert.ok(fixed.interfaces[0].ipv4, 'an address from the subnet');

    const report = await s.app.hosts[0]!.provisioning.reconcile();
    assert.equal(report.addressesPinned, 1, 'only the entry that went');
    assert.ok((await dhcpHosts('lab')).some(host), 'pinned again');
    assert.equal(await pinned(), true);
    assert.equal((await gqlR(DELETE, { id: made.id })).__typename, 'DeleteDomainSuccess');
    assert.equal((await gqlR(DELETE, { id: fixed.id }, ADMIN_TOKEN)).__typename, 'DeleteDomainSuccess');
    assert.ok(!(await dhcpHosts('lab')).some(host), 'the delete unpins it');
  });

  test("a delete whose DHCP host went behind virtplane's back still succeeds, and the cached network learns it went", async () => {
    const made = (await create({ name: 'unpinned-elsewhere' })).domain;
    const nic = made.interfaces[0];
    const lab = () => s.app.services.networks.byName('lab')!;
    const cached = () => lab().ipv4!.dhcpHosts.some((h) => h.mac === nic.mac && h.ip === nic.ipv4);
    // Gone in libvirt, but no re-read of the network since: the cache still shows it.
    await deleteDhcpHost(bus, lab(), { mac: nic.mac, ip: nic.ipv4 });
    assert.equal(cached(), true);
    // libvirt refuses to delete an entry it does not have; the delete re-reads the network instead and goes on.
    assert.equal((await gqlR(DELETE, { id: made.id })).__typename, 'DeleteDomainSuccess');
    assert.equal(cached(), false, 'the re-read network no longer shows the entry');
    const after = await everything();
    assert.ok(!after.hosts.some((h) => h.includes(nic.mac)), 'the DHCP host is gone');
    assert.ok(!JSON.stringify(after.rows).includes(made.uuid), 'everything released');
  });
});
