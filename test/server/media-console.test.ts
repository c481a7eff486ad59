import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { defineDomainXML } from '../../src/libvirt/connect.js';
import { undefineDomain, uuidFromDomainPath } from '../../src/libvirt/domain.js';
import { createVolume, deleteVolume, lookupPool } from '../../src/libvirt/storage.js';
import { buildDomainXml } from '../../src/libvirt/xml/domain-builder.js';
import { TEST_DRIVER } from '../helpers/libvirt-stack.js';
import { domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant, eventually } from '../helpers/tenants.js';

const IMAGES = `{ images { totalCount edges { node { name sizeBytes path } } } }`;
const imagesOf = (r: any) => r.data.images.edges.map((e: any) => e.node);
const ADD = `mutation($n: String!, $p: String!) { addImage(name: $n, path: $p) { __typename ... on AddImageSuccess { image { name sizeBytes path } } ... on Error { code message } } }`;
const REMOVE = `mutation($n: String!) { removeImage(name: $n) { __typename ... on Error { code } } }`;
const INSERT = `mutation($id: ID!, $i: String!) { insertMedia(id: $id, image: $i) { __typename ... on InsertMediaSuccess { domain { disks { device source } } } ... on Error { code message } } }`;
const CONSOLE = `query($id: ID!) { domainConsole(id: $id) { type listen port password sshTunnelCommand } }`;

describe('install images, media and consoles over GraphQL (test driver)', () => {
  let s: TestServer;
  let bus: LibvirtBus;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let isoVolume: string;
  let domainPath: string;
  let id: string;

  before(async () => {
    s = await startTestServer();
    bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    alice = addTenant(s.dataDir, 'alice');
    bob = addTenant(s.dataDir, 'bob');
    isoVolume = await createVolume(bus, await lookupPool(bus, TEST_DRIVER, 'default-pool'), {
      name: 'debian.iso',
      capacityBytes: 2 * 1024 ** 2,
    });
    domainPath = await defineDomainXML(
      bus,
      TEST_DRIVER,
      buildDomainXml({
        type: 'qemu',
        name: 'alice-vm',
        vcpus: 1,
        memoryMiB: 64,
        disks: [],
        cdrom: { source: null },
        interfaces: [],
        graphics: { type: 'VNC', password: 'S3cretPw' },
        ownerId: alice.id,
      }),
    );
    id = domainGlobalId(uuidFromDomainPath(domainPath));
    await eventually(async () => (await s.gql(`query($id: ID!) { node(id: $id) { id } }`, { id })).data?.node, 'the domain in the cache');
  });
  after(async () => {
    if (domainPath) await undefineDomain(bus, domainPath).catch(() => {});
    if (isoVolume) await deleteVolume(bus, isoVolume).catch(() => {});
    bus?.disconnect();
    await s?.stop();
  });

  test('an admin publishes an ISO from a storage pool; everyone lists it, only admins see its path', async () => {
    const added = await s.gql(ADD, { n: 'debian-12', p: '/default-pool/debian.iso' });
    assert.deepEqual(added.data.addImage, {
      __typename: 'AddImageSuccess',
      image: { name: 'debian-12', sizeBytes: 2 * 1024 ** 2, path: '/default-pool/debian.iso' },
    });
    assert.deepEqual(imagesOf(await s.gql(IMAGES, {}, alice.token)), [{ name: 'debian-12', sizeBytes: 2 * 1024 ** 2, path: null }]);
  });

  test('addImage refuses tenants, duplicates, relative paths and files in no pool', async () => {
    const cases: [Record<string, string>, string | null, string][] = [
      [{ n: 'x', p: '/default-pool/debian.iso' }, alice.token, 'FORBIDDEN'],
      [{ n: 'debian-12', p: '/default-pool/debian.iso' }, null, 'CONFLICT'],
      [{ n: 'rel', p: 'debian.iso' }, null, 'VALIDATION'],
      [{ n: 'nowhere', p: '/srv/isos/debian.iso' }, null, 'VALIDATION'],
      [{ n: 'missing', p: '/default-pool/missing.iso' }, null, 'VALIDATION'],
      [{ n: 'bad name!', p: '/default-pool/debian.iso' }, null, 'VALIDATION'],
    ];
    for (const [vars, token, code] of cases) {
      const r = await s.gql(ADD, vars, token ?? undefined);
      assert.equal(r.data.addImage.code, code, JSON.stringify(vars));
    }
    assert.equal((await s.gql(IMAGES)).data.images.totalCount, 1);
  });

  test('images is a Relay connection: pages of first/after by name, with totalCount', async () => {
    const second = await createVolume(bus, await lookupPool(bus, TEST_DRIVER, 'default-pool'), {
      name: 'alpine.iso',
      capacityBytes: 1024 ** 2,
    });
    try {
      assert.equal((await s.gql(ADD, { n: 'alpine-3', p: '/default-pool/alpine.iso' })).data.addImage.__typename, 'AddImageSuccess');
      const PAGE = `query($a: String) { images(first: 1, after: $a) { totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }`;
      const p1 = (await s.gql(PAGE, { a: null }, alice.token)).data.images;
      assert.deepEqual([p1.totalCount, p1.edges.map((e: any) => e.node.name), p1.pageInfo.hasNextPage], [2, ['alpine-3'], true]);
      const p2 = (await s.gql(PAGE, { a: p1.pageInfo.endCursor }, alice.token)).data.images;
      assert.deepEqual([p2.totalCount, p2.edges.map((e: any) => e.node.name), p2.pageInfo.hasNextPage], [2, ['debian-12'], false]);
    } finally {
      await s.gql(REMOVE, { n: 'alpine-3' });
      await deleteVolume(bus, second).catch(() => {});
    }
  });

  test('insertMedia: unknown image or foreign domain is NOT_FOUND; a domain without a drive is INVALID_STATE', async () => {
    assert.equal((await s.gql(INSERT, { id, i: 'nope' }, alice.token)).data.insertMedia.code, 'NOT_FOUND');
    assert.equal((await s.gql(INSERT, { id, i: 'debian-12' }, bob.token)).data.insertMedia.code, 'NOT_FOUND');
    const testDomain = domainGlobalId('6695eb01-f6a4-8304-79aa-97f2502e193f');
    assert.equal((await s.gql(INSERT, { id: testDomain, i: 'debian-12' })).data.insertMedia.code, 'INVALID_STATE');
    // The test driver has no virDomainUpdateDeviceFlags; the change itself is covered on QEMU.
    assert.equal((await s.gql(INSERT, { id, i: 'debian-12' }, alice.token)).data.insertMedia.code, 'UNSUPPORTED');
  });

  test('the owner reads the console password; another tenant gets NOT_FOUND; list queries never show it', async () => {
    const c = await s.gql(CONSOLE, { id }, alice.token);
    assert.equal(c.errors, undefined);
    assert.deepEqual(c.data.domainConsole, { type: 'VNC', listen: '127.0.0.1', port: null, password: 'S3cretPw', sshTunnelCommand: null });
    const foreign = await s.gql(CONSOLE, { id }, bob.token);
    assert.equal(foreign.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    const list = await s.gql(`{ domains { edges { node { name graphics { type listen port } } } } }`, {}, alice.token);
    assert.deepEqual(list.data.domains.edges, [
      { node: { name: 'alice-vm', graphics: [{ type: 'VNC', listen: '127.0.0.1', port: null }] } },
    ]);
    const fields = await s.gql(`{ __type(name: "DomainGraphics") { fields { name } } }`);
    assert.deepEqual(fields.data.__type.fields.map((f: { name: string }) => f.name).sort(), ['listen', 'port', 'type']);
  });

  test('removeImage withdraws the image; only admins may; a drive that holds it still says it holds something', async () => {
    const made = await s.gql(
      `mutation { createDomain(input: { name: "with-iso", vcpus: 1, memoryMiB: 64, diskGiB: 1, network: "default", installImage: "debian-12" }) {
        ... on CreateDomainSuccess { domain { id } } ... on Error { code message } } }`,
    );
    const withIso = made.data.createDomain.domain.id;
    const drive = async () =>
      (
        await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { disks { device hasMedia image { name } } } } }`, { id: withIso })
      ).data.node.disks.find((d: any) => d.device === 'cdrom');
    assert.deepEqual(await drive(), { device: 'cdrom', hasMedia: true, image: { name: 'debian-12' } });
    const empty = await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { disks { device hasMedia } } } }`, { id }, alice.token);
    assert.deepEqual(empty.data.node.disks, [{ device: 'cdrom', hasMedia: false }], 'an empty tray');
    assert.equal((await s.gql(REMOVE, { n: 'debian-12' }, alice.token)).data.removeImage.code, 'FORBIDDEN');
    assert.equal((await s.gql(REMOVE, { n: 'debian-12' })).data.removeImage.__typename, 'RemoveImageSuccess');
    // No longer published: no image to name, but the drive is not empty (it can be ejected).
    assert.deepEqual(await drive(), { device: 'cdrom', hasMedia: true, image: null });
    assert.equal(
      (await s.gql(`mutation($id: ID!) { deleteDomain(id: $id) { __typename } }`, { id: withIso })).data.deleteDomain.__typename,
      'DeleteDomainSuccess',
    );
    assert.equal((await s.gql(REMOVE, { n: 'debian-12' })).data.removeImage.code, 'NOT_FOUND');
    assert.deepEqual((await s.gql(IMAGES)).data.images, { totalCount: 0, edges: [] });
  });
});
