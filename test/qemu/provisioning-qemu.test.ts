import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { defineDomainXML } from '../../src/libvirt/connect.js';
import { VIR_DOMAIN_XML_INACTIVE, VIR_DOMAIN_XML_SECURE } from '../../src/libvirt/constants.js';
import { getDomainXml, undefineDomain, uuidFromDomainPath } from '../../src/libvirt/domain.js';
import type { LibvirtError } from '../../src/libvirt/errors.js';
import {
  buildPool,
  createVolume,
  definePool,
  deletePoolStorage,
  deleteVolume,
  lookupPool,
  lookupVolume,
  readPool,
  readVolume,
  resizeVolume,
  startPool,
  stopPool,
  undefinePool,
} from '../../src/libvirt/storage.js';
import { buildDomainXml } from '../../src/libvirt/xml/domain-builder.js';
import type { DomainSpec } from '../../src/model/index.js';
import { parseDomainSpec } from '../../src/libvirt/xml/domain.js';
import { acquireLibvirtd, domainType, uniquePrefix, virsh, type LibvirtdLease } from '../helpers/qemu.js';
import { assertSecretsNowhere, logCapture } from '../helpers/secrets.js';
import { domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant, eventually } from '../helpers/tenants.js';

const QEMU = '/org/libvirt/QEMU';
const MiB = 1024 ** 2;
const ACTION = `mutation($id: ID!) { r: %s(id: $id) { __typename ... on DomainActionSuccess { domain { state } } ... on Error { code message } } }`;
const CONSOLE = `query($id: ID!) { domainConsole(id: $id) { type listen port password sshTunnelCommand } }`;

/** virsh for cleanup and for asserting absence: failures are expected, and kept off the test output. */
function virshStatus(...args: string[]): boolean {
  try {
    execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** The first bytes a VNC server sends: its protocol version, e.g. "RFB 003.008\n". */
function vncBanner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('data', (b) => {
      sock.destroy();
      resolve(b.toString('latin1'));
    });
    sock.once('error', reject);
  });
}

describe('provisioning on the real QEMU driver: pool, volume, ISO, domain from the builder, console', () => {
  const prefix = uniquePrefix('prov');
  const poolName = `${prefix}-pool`;
  const domainName = `${prefix}-vm`;
  let lease: LibvirtdLease;
  let s: TestServer;
  let bus: LibvirtBus;
  let dir: string;
  let poolDir: string;
  let alice: { id: string; token: string };
  let spec: DomainSpec;
  let domainPath = '';
  let id = '';
  const log = logCapture();

  before(async () => {
    lease = await acquireLibvirtd();
    s = await startTestServer({ driver: 'QEMU' }, { log });
    bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    alice = addTenant(s.dataDir, 'alice');
    dir = mkdtempSync(join(tmpdir(), 'vptest-prov-'));
    chmodSync(dir, 0o755); // the qemu user must reach the disk and ISO below it
    poolDir = join(dir, 'pool');
  });

  after(async () => {
    // Everything this file made, whether or not the tests got that far.
    virshStatus('destroy', domainName);
    virshStatus('undefine', domainName);
    virshStatus('pool-destroy', poolName);
    virshStatus('pool-undefine', poolName);
    if (dir) rmSync(dir, { recursive: true, force: true });
    bus?.disconnect();
    await s?.stop();
    await lease?.release();
  });

  test('a dir pool is defined, built and started; a qcow2 volume is created and grown', async () => {
    const pool = await definePool(bus, QEMU, { type: 'dir', name: poolName, targetPath: poolDir });
    await buildPool(bus, pool);
    await startPool(bus, pool);
    const info = await readPool(bus, pool);
    assert.deepEqual([info.type, info.active, info.targetPath], ['dir', true, poolDir]);

    const vol = await createVolume(bus, pool, { name: `${prefix}-disk.qcow2`, capacityBytes: 16 * MiB, format: 'qcow2' });
    await resizeVolume(bus, vol, 32 * MiB);
    const v = await readVolume(bus, vol);
    assert.deepEqual([v.format, v.capacityBytes, v.targetPath], ['qcow2', 32 * MiB, join(poolDir, `${prefix}-disk.qcow2`)]);
    const header = execFileSync('qemu-img', ['info', '--output=json', '-U', v.targetPath!], { encoding: 'utf8' });
    assert.equal(JSON.parse(header)['virtual-size'], 32 * MiB);
  });

  test('an ISO made here becomes an install image (admin), listed for tenants', async () => {
    const src = join(dir, 'iso-src');
    mkdirSync(src);
    writeFileSync(join(src, 'README.TXT'), 'virtplane test medium\n');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'VPTEST', '-o', join(poolDir, 'install.iso'), src], { stdio: 'ignore' });
    const r = await s.gql(
      `mutation($p: String!) { addImage(name: "install", path: $p) { __typename ... on AddImageSuccess { image { name sizeBytes } } ... on Error { code message } } }`,
      { p: join(poolDir, 'install.iso') },
    );
    assert.equal(r.data.addImage.__typename, 'AddImageSuccess', JSON.stringify(r.data));
    assert.ok(r.data.addImage.image.sizeBytes > 0, 'the image has a size');
    assert.deepEqual((await s.gql(`{ images { edges { node { name } } } }`, {}, alice.token)).data.images.edges, [
      { node: { name: 'install' } },
    ]);
  });

  test('a domain defined from the builder round-trips through libvirtd (build → define → GetXMLDesc → parse)', async () => {
    spec = {
      type: domainType(),
      name: domainName,
      title: 'virtplane e2e <test> & "quotes"',
      vcpus: 1,
      memoryMiB: 128,
      disks: [{ source: { type: 'volume', pool: poolName, volume: `${prefix}-disk.qcow2` }, format: 'qcow2' }],
      cdrom: { source: { type: 'file', path: join(poolDir, 'install.iso') } },
      interfaces: [],
      graphics: { type: 'VNC', password: 'Init1alP' },
      ownerId: alice.id,
    };
    domainPath = await defineDomainXML(bus, QEMU, buildDomainXml(spec));
    const back = parseDomainSpec(await getDomainXml(bus, domainPath, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
    assert.deepEqual(back, { ...spec, uuid: back.uuid, cpuMode: 'host-model' });
    id = domainGlobalId(uuidFromDomainPath(domainPath));
    await eventually(
      async () => (await s.gql(`query($id: ID!) { node(id: $id) { id } }`, { id }, alice.token)).data?.node,
      'the domain in the cache',
    );
  });

  test('the owner starts it through the API and it runs', async () => {
    const r = await s.gql(ACTION.replace('%s', 'startDomain'), { id }, alice.token);
    assert.deepEqual(r.data.r, { __typename: 'DomainActionSuccess', domain: { state: 'RUNNING' } });
    assert.equal(virsh('domstate', domainName).trim(), 'running');
  });

  test('the console answers on loopback with the password; rotating it changes the live guest and its definition', async () => {
    const c = (await s.gql(CONSOLE, { id }, alice.token)).data.domainConsole;
    assert.equal(c.type, 'VNC');
    assert.equal(c.listen, '127.0.0.1');
    assert.ok(c.port >= 5900, `port ${c.port}`);
    assert.equal(c.password, 'Init1alP');
    assert.equal(c.sshTunnelCommand, `ssh -L ${c.port}:127.0.0.1:${c.port} alice@vm-host.example.net`);
    assert.match(await vncBanner(c.port), /^RFB \d{3}\.\d{3}\n/);

    const rotated = await s.gql(
      `mutation($id: ID!) { rotateConsolePassword(id: $id) { __typename ... on RotateConsolePasswordSuccess { console { port password } } ... on Error { code message } } }`,
      { id },
      alice.token,
    );
    const fresh = rotated.data.rotateConsolePassword;
    assert.equal(fresh.__typename, 'RotateConsolePasswordSuccess', JSON.stringify(fresh));
    assert.equal(fresh.console.port, c.port);
    assert.match(fresh.console.password, /^[A-Za-z0-9]{8}$/);
    assert.notEqual(fresh.console.password, 'Init1alP');
    assert.ok(virsh('dumpxml', '--security-info', domainName).includes(`passwd='${fresh.console.password}'`), 'live guest');
    assert.ok(virsh('dumpxml', '--security-info', '--inactive', domainName).includes(`passwd='${fresh.console.password}'`), 'definition');
    const list = JSON.stringify(
      (await s.gql(`{ domains { edges { node { name graphics { type listen port } } } } }`, {}, alice.token)).data,
    );
    assert.ok(
      !list.includes(fresh.console.password) && list.includes(String(c.port)),
      'the domain list shows the console port, not its password',
    );
    // Neither password is in the database, its WAL (audit rows, stored events) or the log.
    assertSecretsNowhere(s.dataDir, log.text(), [c.password, fresh.console.password], { wal: domainName, log: 'virtplane listening' });
  });

  test('media is ejected and inserted on the running guest', async () => {
    const eject = await s.gql(
      `mutation($id: ID!) { ejectMedia(id: $id) { __typename ... on EjectMediaSuccess { domain { disks { device source image { name } } } } ... on Error { code message } } }`,
      { id },
      alice.token,
    );
    assert.deepEqual(
      eject.data.ejectMedia.domain?.disks.find((d: { device: string }) => d.device === 'cdrom'),
      { device: 'cdrom', source: null, image: null },
      JSON.stringify(eject.data),
    );
    const insert = await s.gql(
      `mutation($id: ID!) { insertMedia(id: $id, image: "install") { __typename ... on InsertMediaSuccess { domain { disks { device source image { name } } } } ... on Error { code message } } }`,
      { id },
      alice.token,
    );
    assert.deepEqual(
      insert.data.insertMedia.domain?.disks.find((d: { device: string }) => d.device === 'cdrom'),
      {
        device: 'cdrom',
        source: null, // a host path: admins only
        image: { name: 'install' },
      },
      JSON.stringify(insert.data),
    );
    assert.ok(virsh('dumpxml', '--inactive', domainName).includes(join(poolDir, 'install.iso')), 'in the definition too');
  });

  test('destroyed through the API, undefined, its volume deleted and the pool removed', async () => {
    const r = await s.gql(ACTION.replace('%s', 'destroyDomain'), { id }, alice.token);
    assert.deepEqual(r.data.r, { __typename: 'DomainActionSuccess', domain: { state: 'SHUTOFF' } });
    // Stopped: the drive changes in the definition only.
    const eject = await s.gql(
      `mutation($id: ID!) { ejectMedia(id: $id) { __typename ... on Error { code message } } }`,
      { id },
      alice.token,
    );
    assert.equal(eject.data.ejectMedia.__typename, 'EjectMediaSuccess', JSON.stringify(eject.data));
    assert.ok(!virsh('dumpxml', '--inactive', domainName).includes('install.iso'), 'the ejected ISO is gone from the definition');
    await undefineDomain(bus, domainPath);
    const pool = await lookupPool(bus, QEMU, poolName);
    await deleteVolume(bus, await lookupVolume(bus, pool, `${prefix}-disk.qcow2`));
    await deleteVolume(bus, await lookupVolume(bus, pool, 'install.iso'));
    await assert.rejects(lookupVolume(bus, pool, `${prefix}-disk.qcow2`), (e: LibvirtError) => e.kind === 'NOT_FOUND');
    await stopPool(bus, pool);
    await deletePoolStorage(bus, pool);
    await undefinePool(bus, pool);
    assert.equal(virshStatus('pool-info', poolName), false, 'pool gone');
    assert.equal(virshStatus('dominfo', domainName), false, 'domain gone');
  });
});
