import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from '../../src/db/index.js';
import { uploadFiles } from '../../src/db/schema.js';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { LibvirtError } from '../../src/libvirt/errors.js';
import { createVolume, deleteVolume, lookupPool } from '../../src/libvirt/storage.js';
import { TEST_DRIVER } from '../helpers/libvirt-stack.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant } from '../helpers/tenants.js';

const POOL_FIELDS =
  'id uuid name type state active persistent autostart path vgName sourceDevices capacityBytes allocationBytes availableBytes definedByVirtplane';
const POOLS = `{ storagePools(first: 50) { totalCount edges { node { ${POOL_FIELDS} } } } }`;
const CREATE = `mutation($input: CreateStoragePoolInput!) { createStoragePool(input: $input) {
  __typename ... on CreateStoragePoolSuccess { storagePool { ${POOL_FIELDS} } } ... on ValidationError { field } ... on Error { code message } } }`;
const action = (name: string) =>
  `mutation($id: ID!) { ${name}(id: $id) { __typename ... on StoragePoolActionSuccess { storagePool { name state active } } ... on Error { code message } } }`;
const CREATE_UPLOAD = `mutation($input: CreateImageUploadInput!) { createImageUpload(input: $input) {
  __typename ... on CreateImageUploadSuccess { upload { id uploadUrl state sizeBytes } } ... on ValidationError { field } ... on Error { code message } } }`;

const poolsOf = (r: any) => r.data.storagePools.edges.map((e: any) => e.node);

/** A PUT that sends its headers and `sent` bytes of a `declared`-byte body, then waits for the answer. */
function partialPut(url: string, token: string | null, declared: number, sent: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-length': declared };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = request(url, { method: 'PUT', headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode!, body: JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.write(Buffer.alloc(sent, 1));
  });
}

describe('storage pools through the API (test driver)', () => {
  let s: TestServer;
  let bus: LibvirtBus;
  let alice: { id: string; token: string };

  before(async () => {
    s = await startTestServer();
    bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    alice = addTenant(s.dataDir, 'alice');
  });
  after(async () => {
    bus?.disconnect();
    await s?.stop();
  });

  test('admins list the pools with capacity, type, state, path and whether virtplane defined them', async () => {
    const r = await s.gql(POOLS);
    const pools = poolsOf(r);
    const byName = Object.fromEntries(pools.map((p: any) => [p.name, p]));
    const stock = byName['default-pool'];
    assert.ok(stock, `the test driver's default-pool is listed: ${JSON.stringify(pools)}`);
    assert.deepEqual(
      [stock.type, stock.state, stock.active, stock.path, stock.definedByVirtplane],
      ['DIR', 'RUNNING', true, '/default-pool', false],
    );
    assert.ok(stock.capacityBytes > 0 && stock.availableBytes > 0, `capacity and available space are shown: ${JSON.stringify(stock)}`);
    // The guest-disk pool the server made at start-up is its own.
    assert.equal(byName.virtplane?.definedByVirtplane, true, 'the guest-disk pool made at start-up is recorded as virtplane’s');
    assert.equal(r.data.storagePools.totalCount, pools.length);
    assert.deepEqual(
      pools.map((p: any) => p.name),
      [...pools.map((p: any) => p.name)].sort(),
      'ordered by name',
    );
  });

  test('tenants get FORBIDDEN for the list and null for a pool by id; anonymous callers UNAUTHENTICATED', async () => {
    const denied = await s.gql(POOLS, {}, alice.token);
    assert.equal(denied.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    const id = poolsOf(await s.gql(POOLS))[0].id;
    const node = await s.gql(`query($id: ID!) { node(id: $id) { id } }`, { id }, alice.token);
    assert.equal(node.data.node, null, 'a tenant cannot load a pool by its ID');
    assert.equal(
      (await s.gql(`query($id: ID!) { node(id: $id) { ... on StoragePool { name } } }`, { id })).data.node.name,
      poolsOf(await s.gql(POOLS))[0].name,
    );
    const anon = await s.gql(POOLS, {}, null);
    assert.equal(anon.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    const create = await s.gql(CREATE, { input: { name: 'nope', type: 'DIR', path: '/srv/nope' } }, alice.token);
    assert.equal(create.data.createStoragePool.code, 'FORBIDDEN');
  });

  test('a DIR pool is defined, started and autostarted, then stopped, started and deleted', async () => {
    const made = await s.gql(CREATE, { input: { name: 'isos', type: 'DIR', path: '/srv/isos', start: true, autostart: true } });
    const pool = made.data.createStoragePool.storagePool;
    assert.ok(pool, JSON.stringify(made));
    assert.deepEqual(
      [pool.name, pool.type, pool.state, pool.autostart, pool.persistent, pool.path, pool.definedByVirtplane],
      ['isos', 'DIR', 'RUNNING', true, true, '/srv/isos', true],
    );
    assert.ok(
      poolsOf(await s.gql(POOLS)).some((p: any) => p.name === 'isos'),
      'listed',
    );

    const stopped = await s.gql(action('stopStoragePool'), { id: pool.id });
    assert.equal(stopped.data.stopStoragePool.storagePool.state, 'INACTIVE');
    assert.equal((await s.gql(action('stopStoragePool'), { id: pool.id })).data.stopStoragePool.code, 'INVALID_STATE');
    assert.equal((await s.gql(action('startStoragePool'), { id: pool.id })).data.startStoragePool.storagePool.state, 'RUNNING');

    const deleted = await s.gql(action('deleteStoragePool'), { id: pool.id });
    assert.equal(deleted.data.deleteStoragePool.__typename, 'StoragePoolActionSuccess', JSON.stringify(deleted));
    assert.ok(!poolsOf(await s.gql(POOLS)).some((p: any) => p.name === 'isos'), 'gone from the list');
    await assert.rejects(lookupPool(bus, TEST_DRIVER, 'isos'), (e: LibvirtError) => e.kind === 'NOT_FOUND', 'gone from libvirt');
    assert.equal((await s.gql(action('deleteStoragePool'), { id: pool.id })).data.deleteStoragePool.code, 'NOT_FOUND');
  });

  test('a LOGICAL pool records its volume group and devices (the test driver builds nothing)', async () => {
    const made = await s.gql(CREATE, { input: { name: 'lvm', type: 'LOGICAL', vgName: 'vg_guests', sourceDevices: ['/dev/vdz'] } });
    const pool = made.data.createStoragePool.storagePool;
    assert.ok(pool, JSON.stringify(made));
    assert.deepEqual(
      [pool.type, pool.vgName, pool.sourceDevices, pool.path, pool.state],
      ['LOGICAL', 'vg_guests', ['/dev/vdz'], '/dev/vg_guests', 'INACTIVE'],
    );
    const again = await s.gql(CREATE, { input: { name: 'lvm2', type: 'LOGICAL', vgName: 'vg_guests' } });
    assert.equal(again.data.createStoragePool.code, 'CONFLICT', 'a volume group is used by one pool only');
    assert.equal((await s.gql(action('deleteStoragePool'), { id: pool.id })).data.deleteStoragePool.__typename, 'StoragePoolActionSuccess');
  });

  test('bad input is refused with the field it concerns, and nothing is defined', async () => {
    const cases: [Record<string, unknown>, string, string | null][] = [
      [{ name: 'bad name', type: 'DIR', path: '/srv/x' }, 'VALIDATION', 'name'],
      [{ name: 'x', type: 'DIR' }, 'VALIDATION', 'path'],
      [{ name: 'x', type: 'DIR', path: 'relative/dir' }, 'VALIDATION', 'path'],
      [{ name: 'x', type: 'DIR', path: '/srv/../etc' }, 'VALIDATION', 'path'],
      [{ name: 'x', type: 'DIR', path: '/' }, 'VALIDATION', 'path'],
      [{ name: 'x', type: 'DIR', path: '/srv/x', sourceDevices: ['/dev/sdb'] }, 'VALIDATION', 'sourceDevices'],
      [{ name: 'x', type: 'LOGICAL', path: '/srv/x' }, 'VALIDATION', 'path'],
      [{ name: 'x', type: 'LOGICAL', vgName: '-vg' }, 'VALIDATION', 'vgName'],
      [{ name: 'x', type: 'LOGICAL', sourceDevices: ['/etc/passwd'] }, 'VALIDATION', 'sourceDevices'],
      [{ name: 'x', type: 'LOGICAL', sourceDevices: ['/dev/sdb', '/dev/sdb'] }, 'VALIDATION', 'sourceDevices'],
      [{ name: 'x', type: 'LOGICAL', sourceDevices: Array.from({ length: 17 }, (_, i) => `/dev/sd${i}`) }, 'VALIDATION', 'sourceDevices'],
      [{ name: 'default-pool', type: 'DIR', path: '/srv/other' }, 'CONFLICT', null],
      [{ name: 'x', type: 'DIR', path: '/default-pool' }, 'CONFLICT', null],
    ];
    const before = poolsOf(await s.gql(POOLS)).length;
    for (const [input, code, field] of cases) {
      const r = (await s.gql(CREATE, { input })).data.createStoragePool;
      assert.equal(r.code, code, `${JSON.stringify(input)}: ${JSON.stringify(r)}`);
      if (field) assert.equal(r.field, field, JSON.stringify(input));
    }
    assert.equal(poolsOf(await s.gql(POOLS)).length, before, 'no pool was defined');
  });

  test('deleteStoragePool refuses pools virtplane did not define, the guest-disk pool, and pools with volumes or images', async () => {
    const pools = poolsOf(await s.gql(POOLS));
    const id = (name: string) => pools.find((p: any) => p.name === name).id;
    const stock = await s.gql(action('deleteStoragePool'), { id: id('default-pool') });
    assert.equal(stock.data.deleteStoragePool.code, 'INVALID_STATE');
    assert.match(stock.data.deleteStoragePool.message, /not defined by virtplane/);
    assert.equal((await s.gql(action('deleteStoragePool'), { id: id('virtplane') })).data.deleteStoragePool.code, 'IN_USE');

    const made = (await s.gql(CREATE, { input: { name: 'busy', type: 'DIR', path: '/srv/busy', start: true } })).data.createStoragePool
      .storagePool;
    const poolPath = await lookupPool(bus, TEST_DRIVER, 'busy');
    const vol = await createVolume(bus, poolPath, { name: 'other.img', capacityBytes: 1024 ** 2 });
    const withVolume = await s.gql(action('deleteStoragePool'), { id: made.id });
    assert.equal(withVolume.data.deleteStoragePool.code, 'IN_USE', JSON.stringify(withVolume));
    await deleteVolume(bus, vol);

    const iso = await createVolume(bus, poolPath, { name: 'small.iso', capacityBytes: 1024 ** 2 });
    const added = await s.gql(`mutation { addImage(name: "small", path: "/srv/busy/small.iso") { __typename } }`);
    assert.equal(added.data.addImage.__typename, 'AddImageSuccess');
    await deleteVolume(bus, iso);
    const withImage = await s.gql(action('deleteStoragePool'), { id: made.id });
    assert.equal(withImage.data.deleteStoragePool.code, 'IN_USE', 'a published image keeps its pool');
    assert.match(withImage.data.deleteStoragePool.message, /small/);
    await s.gql(`mutation { removeImage(name: "small") { __typename } }`);
    assert.equal((await s.gql(action('deleteStoragePool'), { id: made.id })).data.deleteStoragePool.__typename, 'StoragePoolActionSuccess');
  });

  test('createImageUpload checks its input: size limit, SHA-256, pool, name; tenants are refused', async () => {
    const cases: [Record<string, unknown>, string, string | null][] = [
      [{ name: 'a', sizeBytes: 9 * 1024 ** 3 }, 'VALIDATION', 'sizeBytes'],
      [{ name: 'a', sizeBytes: 0 }, 'VALIDATION', 'sizeBytes'],
      [{ name: 'a', sizeBytes: 1.5 }, 'VALIDATION', 'sizeBytes'],
      [{ name: 'a', sizeBytes: 10, sha256: 'abc' }, 'VALIDATION', 'sha256'],
      [{ name: 'bad name', sizeBytes: 10 }, 'VALIDATION', 'name'],
      [{ name: 'a', sizeBytes: 10, pool: 'no-such-pool' }, 'VALIDATION', 'pool'],
      // The test driver's pools have no directory on this host: nothing could be written there.
      [{ name: 'a', sizeBytes: 10, pool: 'default-pool' }, 'VALIDATION', 'pool'],
    ];
    for (const [input, code, field] of cases) {
      const r = (await s.gql(CREATE_UPLOAD, { input })).data.createImageUpload;
      assert.equal(r.code, code, `${JSON.stringify(input)}: ${JSON.stringify(r)}`);
      if (field) assert.equal(r.field, field, JSON.stringify(input));
    }
    const tenant = await s.gql(CREATE_UPLOAD, { input: { name: 'a', sizeBytes: 10 } }, alice.token);
    assert.equal(tenant.data.createImageUpload.code, 'FORBIDDEN');
  });

  test('an upload URL refuses anonymous and tenant callers before reading the body', async () => {
    // The test driver makes no directories: give its guest-disk pool a real one, so an upload can be asked for.
    mkdirSync(join(s.dataDir, 'storage'), { recursive: true });
    const r = (await s.gql(CREATE_UPLOAD, { input: { name: 'refused', sizeBytes: 4 * 1024 ** 2 } })).data.createImageUpload;
    assert.equal(r.__typename, 'CreateImageUploadSuccess', JSON.stringify(r));
    const url = new URL(r.upload.uploadUrl, s.url).toString();
    // Each PUT sends 1 KiB of a 4 MiB body and waits: an answer means the server did not wait for the body.
    const anon = await partialPut(url, null, 4 * 1024 ** 2, 1024);
    assert.deepEqual([anon.status, anon.body.error.code], [401, 'UNAUTHENTICATED']);
    const tenant = await partialPut(url, alice.token, 4 * 1024 ** 2, 1024);
    assert.deepEqual([tenant.status, tenant.body.error.code], [403, 'FORBIDDEN']);
    const unknown = await partialPut(new URL('/uploads/images/nothing', s.url).toString(), ADMIN_TOKEN, 4 * 1024 ** 2, 1024);
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'NOT_FOUND']);
    const state = await s.gql(`query($id: ID!) { imageUpload(id: $id) { state receivedBytes } }`, { id: r.upload.id });
    assert.deepEqual(state.data.imageUpload, { state: 'PENDING', receivedBytes: 0 }, 'the refused PUTs did not use the upload');
    assert.equal(
      (await s.gql(`query($id: ID!) { imageUpload(id: $id) { state } }`, { id: r.upload.id }, alice.token)).data.imageUpload,
      null,
    );
  });

  test('Expect: 100-continue is answered only for the upload’s admin; a file libvirt does not list is not kept', async () => {
    const dir = join(s.dataDir, 'storage');
    mkdirSync(dir, { recursive: true });
    const r = (await s.gql(CREATE_UPLOAD, { input: { name: 'expecting', sizeBytes: 1024 } })).data.createImageUpload;
    const url = new URL(r.upload.uploadUrl, s.url).toString();
    const send = (token: string | null) =>
      new Promise<{ continued: boolean; status: number; body: any }>((resolve, reject) => {
        const headers: Record<string, string | number> = { 'content-length': 1024, expect: '100-continue' };
        if (token) headers.authorization = `Bearer ${token}`;
        let continued = false;
        const req = request(url, { method: 'PUT', headers }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ continued, status: res.statusCode!, body: JSON.parse(text) }));
        });
        req.on('continue', () => {
          continued = true;
          req.end(Buffer.alloc(1024, 7));
        });
        req.on('error', reject);
        req.flushHeaders();
      });
    const anon = await send(null);
    assert.deepEqual([anon.continued, anon.status], [false, 401], 'no 100 Continue for an anonymous caller');
    const admin = await send(ADMIN_TOKEN);
    assert.equal(admin.continued, true, 'the admin is told to send the body');
    // The test driver never scans a directory, so the file written is no volume: it must not stay.
    assert.deepEqual([admin.status, admin.body.error.code], [409, 'INVALID_STATE'], JSON.stringify(admin.body));
    assert.deepEqual(readdirSync(dir), [], 'neither the temporary nor the final file is left');
    assert.ok(
      !(await s.gql(`{ images { edges { node { name } } } }`)).data.images.edges.some((e: any) => e.node.name === 'expecting'),
      'no image',
    );
  });
});

test('a temporary upload file left by a server that stopped mid-upload is removed at the next start', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-test-'));
  try {
    const first = await startTestServer({ dataDir });
    await first.stop();
    // What a server killed mid-upload leaves: its row in upload_files and the file the row names.
    const partial = join(dataDir, 'storage', '.virtplane-upload-00000000-0000-4000-8000-000000000000.part');
    mkdirSync(join(dataDir, 'storage'), { recursive: true });
    writeFileSync(partial, Buffer.alloc(4096));
    const db = openDatabase(join(dataDir, 'virtplane.sqlite'));
    db.insert(uploadFiles).values({ id: '00000000-0000-4000-8000-000000000000', tempPath: partial }).run();
    db.$client.close();
    const second = await startTestServer({ dataDir });
    await second.stop();
    assert.ok(!existsSync(partial), 'the partial file is gone');
    const after = openDatabase(join(dataDir, 'virtplane.sqlite'));
    assert.equal(after.select().from(uploadFiles).all().length, 0, 'and its row');
    after.$client.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
