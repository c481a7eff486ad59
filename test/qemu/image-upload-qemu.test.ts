import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { acquireLibvirtd, uniquePrefix, virsh, virshQuiet, type LibvirtdLease } from '../helpers/qemu.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { eventually } from '../helpers/tenants.js';

const MiB = 1024 ** 2;
const IPXE_ISO = '/usr/lib/ipxe/ipxe.iso';
const POOL_FIELDS = 'id name type state path capacityBytes allocationBytes availableBytes definedByVirtplane';
const CREATE_POOL = `mutation($input: CreateStoragePoolInput!) { createStoragePool(input: $input) {
  __typename ... on CreateStoragePoolSuccess { storagePool { ${POOL_FIELDS} } } ... on Error { code message } } }`;
const CREATE_UPLOAD = `mutation($input: CreateImageUploadInput!) { createImageUpload(input: $input) {
  __typename ... on CreateImageUploadSuccess { upload { id uploadUrl state sizeBytes receivedBytes expiresAt } } ... on ValidationError { field } ... on Error { code message } } }`;
const UPLOAD = `query($id: ID!) { imageUpload(id: $id) { state receivedBytes sizeBytes error image { name sha256 } } }`;
const IMAGES = `{ images(first: 100) { edges { node { name sizeBytes sha256 path } } } }`;
const DELETE_POOL = `mutation($id: ID!) { deleteStoragePool(id: $id) { __typename ... on Error { code message } } }`;

interface Answer {
  status: number;
  body: any;
}

/** A PUT whose body the test writes itself; `answer` settles with the server's JSON answer (or the socket's fate). */
function startPut(
  url: string,
  token: string | null,
  headers: Record<string, string | number>,
): { req: ClientRequest; answer: Promise<Answer> } {
  const all: Record<string, string | number> = { ...headers };
  if (token) all.authorization = `Bearer ${token}`;
  let req!: ClientRequest;
  const answer = new Promise<Answer>((resolve, reject) => {
    req = request(url, { method: 'PUT', headers: all }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
  });
  return { req, answer };
}

function put(url: string, body: Buffer, headers: Record<string, string | number> = { 'content-length': body.length }): Promise<Answer> {
  const { req, answer } = startPut(url, ADMIN_TOKEN, headers);
  req.end(body);
  return answer;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('install media uploaded through the API into a dir pool (QEMU, libvirtd)', () => {
  let lease: LibvirtdLease;
  let s: TestServer;
  let tmp: string;
  let poolDir: string;
  let poolName: string;
  let pool: any;

  const volumes = (): string[] =>
    virsh('vol-list', poolName)
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter(Boolean);
  const files = () => readdirSync(poolDir).sort();
  const images = async () => (await s.gql(IMAGES)).data.images.edges.map((e: any) => e.node);
  const newUpload = async (input: Record<string, unknown>) => {
    const r = (await s.gql(CREATE_UPLOAD, { input: { pool: poolName, ...input } })).data.createImageUpload;
    assert.equal(r.__typename, 'CreateImageUploadSuccess', JSON.stringify(r));
    return { id: r.upload.id as string, url: new URL(r.upload.uploadUrl, s.url).toString() };
  };
  /** Nothing of a failed upload is left: no file, no volume, no image. */
  const assertNothingLeft = async (name: string, filesBefore: string[]) => {
    assert.ok(!(await images()).some((i: any) => i.name === name), 'no image was published');
    assert.deepEqual(files(), filesBefore, 'no file (temporary or final) is left in the pool directory');
    virsh('pool-refresh', poolName);
    assert.ok(
      !volumes().some((v) => v.startsWith(name) || v.startsWith('.virtplane-upload')),
      `no volume is left: ${volumes().join(', ')}`,
    );
  };

  before(async () => {
    lease = await acquireLibvirtd();
    tmp = mkdtempSync(join(tmpdir(), 'virtplane-upload-'));
    poolDir = join(tmp, 'isos');
    poolName = uniquePrefix('isos');
    s = await startTestServer({ driver: 'QEMU', maxUploadBytes: 16 * MiB });
  });
  after(async () => {
    await s?.stop();
    if (poolName) {
      for (const v of existsSync(poolDir) ? readdirSync(poolDir) : []) virshQuiet('vol-delete', '--pool', poolName, v);
      virshQuiet('pool-destroy', poolName);
      virshQuiet('pool-undefine', poolName);
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    await lease?.release();
  });

  test('an admin defines a dir pool; it is listed with its real capacity', async () => {
    const r = (await s.gql(CREATE_POOL, { input: { name: poolName, type: 'DIR', path: poolDir, start: true } })).data.createStoragePool;
    assert.equal(r.__typename, 'CreateStoragePoolSuccess', JSON.stringify(r));
    pool = r.storagePool;
    assert.ok(existsSync(poolDir), 'libvirt made the directory');
    const listed = (await s.gql(`{ storagePools(first: 100) { edges { node { ${POOL_FIELDS} } } } }`)).data.storagePools.edges.map(
      (e: any) => e.node,
    );
    const mine = listed.find((p: any) => p.name === poolName);
    assert.deepEqual([mine?.type, mine?.state, mine?.path, mine?.definedByVirtplane], ['DIR', 'RUNNING', poolDir, true]);
    assert.ok(
      mine.capacityBytes > 0 && mine.availableBytes > 0 && mine.capacityBytes >= mine.availableBytes,
      `capacity from the file system: ${JSON.stringify(mine)}`,
    );
  });

  test("Debian's iPXE ISO uploads, is listed with its size and SHA-256, and the URL works only once", async () => {
    const iso = readFileSync(IPXE_ISO);
    const { id, url } = await newUpload({ name: 'ipxe', sizeBytes: iso.length, sha256: sha256(iso) });
    const done = await put(url, iso);
    assert.equal(done.status, 201, JSON.stringify(done.body));
    assert.deepEqual(done.body.image, {
      ...done.body.image,
      name: 'ipxe',
      sizeBytes: iso.length,
      sha256: sha256(iso),
      path: join(poolDir, 'ipxe.iso'),
    });
    assert.deepEqual(readFileSync(join(poolDir, 'ipxe.iso')), iso, 'the file in the pool is the ISO');
    assert.deepEqual(files(), ['ipxe.iso'], 'no temporary file is left');
    assert.ok(volumes().includes('ipxe.iso'), 'libvirt knows the file as a volume');
    assert.deepEqual(
      (await images()).find((i: any) => i.name === 'ipxe'),
      { name: 'ipxe', sizeBytes: iso.length, sha256: sha256(iso), path: join(poolDir, 'ipxe.iso') },
    );
    assert.deepEqual((await s.gql(UPLOAD, { id })).data.imageUpload, {
      state: 'DONE',
      receivedBytes: iso.length,
      sizeBytes: iso.length,
      error: null,
      image: { name: 'ipxe', sha256: sha256(iso) },
    });

    const again = await put(url, iso);
    assert.deepEqual([again.status, again.body.error.code], [409, 'CONFLICT'], 'a second PUT to the same URL is refused');
    const audit = (await s.gql(`{ auditLog(first: 10, filter: { action: "uploadImage", target: "${id}" }) { edges { node { result } } } }`))
      .data.auditLog.edges;
    assert.deepEqual(
      audit.map((e: any) => e.node.result),
      ['CONFLICT', 'SUCCESS'],
      'both PUTs are in the audit log',
    );
    assert.deepEqual(readFileSync(join(poolDir, 'ipxe.iso')), iso, 'and changes nothing');
    // The name is taken now: no second upload, and no addImage, may have it.
    assert.equal(
      (await s.gql(CREATE_UPLOAD, { input: { name: 'ipxe', pool: poolName, sizeBytes: 10 } })).data.createImageUpload.code,
      'CONFLICT',
    );
  });

  test('the uploader sees the bytes received while the body arrives', async () => {
    const body = randomBytes(4 * MiB);
    const { id, url } = await newUpload({ name: 'progress', sizeBytes: body.length });
    const { req, answer } = startPut(url, ADMIN_TOKEN, { 'content-length': body.length });
    req.write(body.subarray(0, MiB));
    const midway = await eventually(async () => {
      const u = (await s.gql(UPLOAD, { id })).data.imageUpload;
      return u.receivedBytes === MiB ? u : null;
    }, 'the first MiB to be counted');
    assert.equal(midway.state, 'RECEIVING');
    req.end(body.subarray(MiB));
    const done = await answer;
    assert.equal(done.status, 201, JSON.stringify(done.body));
    assert.equal(done.body.image.sha256, sha256(body), 'the SHA-256 is computed while streaming, with no declared one');
    assert.deepEqual((await s.gql(UPLOAD, { id })).data.imageUpload.receivedBytes, body.length);
  });

  test('a body longer than declared is refused and leaves nothing behind', async () => {
    const before = files();
    const big = randomBytes(2 * MiB);
    // Declared by Content-Length: refused before the body is read.
    const declared = await newUpload({ name: 'toolong', sizeBytes: MiB });
    const early = await put(declared.url, big);
    assert.deepEqual([early.status, early.body.error.code, early.body.error.field], [413, 'VALIDATION', 'sizeBytes']);
    // Chunked, with no length: counted while streaming, and cut off at the declared size.
    const chunked = await newUpload({ name: 'toolong2', sizeBytes: MiB });
    const late = await put(chunked.url, big, { 'transfer-encoding': 'chunked' });
    assert.deepEqual([late.status, late.body.error.code, late.body.error.field], [413, 'VALIDATION', 'sizeBytes']);
    assert.equal((await s.gql(UPLOAD, { id: chunked.id })).data.imageUpload.state, 'FAILED');
    await assertNothingLeft('toolong', before);
  });

  test('a body over VIRTPLANE_MAX_UPLOAD_GIB cannot even be announced', async () => {
    const r = (await s.gql(CREATE_UPLOAD, { input: { name: 'huge', pool: poolName, sizeBytes: 17 * MiB } })).data.createImageUpload;
    assert.deepEqual([r.code, r.field], ['VALIDATION', 'sizeBytes']);
  });

  test('a body with another SHA-256 than declared is refused and leaves nothing behind', async () => {
    const before = files();
    const body = randomBytes(MiB);
    const { id, url } = await newUpload({ name: 'wronghash', sizeBytes: body.length, sha256: sha256(Buffer.from('something else')) });
    const r = await put(url, body);
    assert.deepEqual([r.status, r.body.error.code, r.body.error.field], [400, 'VALIDATION', 'sha256']);
    assert.equal((await s.gql(UPLOAD, { id })).data.imageUpload.state, 'FAILED');
    await assertNothingLeft('wronghash', before);
    // The name is free again.
    await newUpload({ name: 'wronghash', sizeBytes: 10 });
  });

  test('an upload cut off mid-way (the client goes away) leaves no file, volume or image', async () => {
    const before = files();
    const body = randomBytes(4 * MiB);
    const { id, url } = await newUpload({ name: 'aborted', sizeBytes: body.length });
    const { req, answer } = startPut(url, ADMIN_TOKEN, { 'content-length': body.length });
    answer.catch(() => {}); // the socket is destroyed below
    req.write(body.subarray(0, 2 * MiB));
    await eventually(async () => ((await s.gql(UPLOAD, { id })).data.imageUpload.receivedBytes > 0 ? true : null), 'bytes to arrive');
    assert.ok(
      readdirSync(poolDir).some((f) => f.startsWith('.virtplane-upload-')),
      'the bytes go to a temporary file meanwhile',
    );
    req.destroy();
    const failed = await eventually(async () => {
      const u = (await s.gql(UPLOAD, { id })).data.imageUpload;
      return u.state === 'FAILED' ? u : null;
    }, 'the upload to fail');
    assert.match(failed.error, /connection closed/);
    await assertNothingLeft('aborted', before);
  });

  test('the pool holding an image cannot be deleted; once emptied it is, with its directory', async () => {
    const refused = (await s.gql(DELETE_POOL, { id: pool.id })).data.deleteStoragePool;
    assert.equal(refused.code, 'IN_USE', JSON.stringify(refused));
    for (const name of ['ipxe', 'progress']) await s.gql(`mutation($n: String!) { removeImage(name: $n) { __typename } }`, { n: name });
    const stillFiles = (await s.gql(DELETE_POOL, { id: pool.id })).data.deleteStoragePool;
    assert.equal(stillFiles.code, 'IN_USE', 'files that are no image still keep the pool');
    for (const v of readdirSync(poolDir)) virsh('vol-delete', '--pool', poolName, v);
    const deleted = (await s.gql(DELETE_POOL, { id: pool.id })).data.deleteStoragePool;
    assert.equal(deleted.__typename, 'StoragePoolActionSuccess', JSON.stringify(deleted));
    assert.ok(!existsSync(poolDir), 'the directory libvirt made for it is gone');
    assert.throws(() => virsh('pool-info', poolName), 'the pool is undefined');
  });
});
