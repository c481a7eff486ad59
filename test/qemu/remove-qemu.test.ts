import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { virtplaneFilterNames } from '../../src/libvirt/xml/nwfilter.js';
import type { InstanceNames } from '../../src/services/instance/instance.js';
import { npmStart, type NpmStarted } from '../helpers/npm-start.js';
import { acquireLibvirtd, uniquePrefix, virsh, virshQuiet, type LibvirtdLease } from '../helpers/qemu.js';
import { ipv4Plus, unusedDocumentationBlock } from '../helpers/subnets.js';

/**
 * `npm run remove` takes an installation off the host — the pool, network, nwfilters and nftables table it
 * made, its guest (with --force) and its data dir — and leaves a pool, network and nftables table it did not make.
 */
const TOKEN = 'remove-admin-token-0123456789abcdef';
const prefix = uniquePrefix('rm');
const otherPool = `${prefix}-other-pool`;
const otherNetwork = `${prefix}-other-net`;
const otherTable = `vptest_rm_other_${process.pid}`;
const network = `${prefix}-net`;
const vmName = `${prefix}-vm`;
let lease: LibvirtdLease;
let dir: string;
let dataDir: string;
let instance: InstanceNames | undefined;
let server: NpmStarted | undefined;

const env = () => ({ VIRTPLANE_DRIVER: 'QEMU', VIRTPLANE_DATA_DIR: dataDir, VIRTPLANE_ADMIN_TOKEN: TOKEN, VIRTPLANE_DOMAIN_TYPE: 'qemu' });
const exists = (...args: string[]) => spawnSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { stdio: 'ignore' }).status === 0;
const nftHas = (table: string) => spawnSync('nft', ['list', 'table', 'inet', table], { stdio: 'ignore' }).status === 0;
const remove = (...args: string[]) =>
  spawnSync('npm', ['run', '--silent', 'remove', '--', ...args], { env: { ...process.env, ...env() }, encoding: 'utf8' });

before(async () => {
  lease = await acquireLibvirtd();
  dir = mkdtempSync(join(tmpdir(), 'vptest-rm-'));
  chmodSync(dir, 0o711); // QEMU (libvirt-qemu) reaches the guest's disk below
  dataDir = join(dir, 'data');
  // What virtplane did not make: a pool, a network without addresses, an nftables table.
  virsh('pool-define-as', otherPool, 'dir', '--target', join(dir, 'other-pool'));
  const netXml = join(dir, 'other-net.xml');
  writeFileSync(netXml, `<network><name>${otherNetwork}</name><bridge name='vprm${randomBytes(3).toString('hex')}'/></network>`);
  virsh('net-define', netXml);
  execFileSync('nft', ['add', 'table', 'inet', otherTable]);
});

after(async () => {
  await server?.stop();
  virshQuiet('destroy', vmName);
  virshQuiet('undefine', vmName, '--nvram', '--managed-save');
  for (const n of [network, otherNetwork]) {
    virshQuiet('net-destroy', n);
    virshQuiet('net-undefine', n);
  }
  for (const p of [otherPool, instance?.storagePool]) {
    if (!p) continue;
    virshQuiet('pool-destroy', p);
    virshQuiet('pool-undefine', p);
  }
  if (instance) {
    const { clean, router, spoofing } = virtplaneFilterNames(instance.nwfilterPrefix);
    for (const f of [clean, router, spoofing]) virshQuiet('nwfilter-undefine', f);
  }
  for (const t of [otherTable, instance?.nftTable]) if (t) spawnSync('nft', ['delete', 'table', 'inet', t], { stdio: 'ignore' });
  if (dir) rmSync(dir, { recursive: true, force: true });
  await lease?.release();
});

test('an installation makes its pool, nwfilters and nftables table under names of its own; a network and a guest through the API', async () => {
  server = await npmStart(env());
  instance = (JSON.parse(server.lines.find((l) => l.includes('"virtplane listening"'))!) as { instance: InstanceNames }).instance;
  assert.match(instance.storagePool, /^virtplane-[0-9a-f]{8}$/, 'the pool is named after the instance');
  assert.ok(exists('pool-info', instance.storagePool), `the server defined its pool ${instance.storagePool}`);
  assert.ok(exists('nwfilter-dumpxml', `${instance.nwfilterPrefix}clean-traffic`), 'and its nwfilters');
  assert.ok(nftHas(instance.nftTable), `and its nftables table ${instance.nftTable}`);
  const gql = async (query: string, variables?: Record<string, unknown>) =>
    await (
      await fetch(server!.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ query, variables }),
      })
    ).json();
  const base = unusedDocumentationBlock(29);
  const net = await gql(`mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename ... on Error { code message } } }`, {
    i: {
      name: network,
      forwardMode: 'ISOLATED',
      bridge: `vprn${randomBytes(4).toString('hex')}`,
      start: true,
      ipv4: { address: ipv4Plus(base, 1), prefix: 29, dhcpRange: { start: ipv4Plus(base, 2), end: ipv4Plus(base, 6) } },
    },
  });
  assert.equal(net.data?.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(net));
  const vm = await gql(`mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on Error { code message } } }`, {
    i: { name: vmName, vcpus: 1, memoryMiB: 64, diskGiB: 1, network, start: false },
  });
  assert.equal(vm.data?.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(vm));
  assert.equal(await server.stop(), 0, 'the server stops');
  server = undefined;
});

test('npm run remove refuses while its guest exists, and without --yes only lists what it would remove', () => {
  assert.ok(instance, 'the installation was made in the test before');
  const dry = remove();
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`domain ${vmName} \\(needs --force\\)`), dry.stdout);
  assert.match(dry.stdout, new RegExp(`storage pool ${instance.storagePool}`), dry.stdout);
  const refused = remove('--yes');
  assert.equal(refused.status, 1, `refused: ${refused.stdout} ${refused.stderr}`);
  assert.match(refused.stderr, new RegExp(`domains still exist: ${vmName}`), refused.stderr);
  assert.ok(exists('dominfo', vmName) && exists('pool-info', instance.storagePool) && existsSync(dataDir), 'nothing was removed');
});

test("npm run remove --yes --force leaves none of the installation's objects, and everything that is not its own", () => {
  assert.ok(instance, 'the installation was made in the test before');
  const r = remove('--yes', '--force');
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const left = [
    exists('dominfo', vmName) && `domain ${vmName}`,
    exists('net-info', network) && `network ${network}`,
    exists('pool-info', instance.storagePool) && `pool ${instance.storagePool}`,
    ...Object.values(virtplaneFilterNames(instance.nwfilterPrefix)).map((f) => exists('nwfilter-dumpxml', f) && `nwfilter ${f}`),
    nftHas(instance.nftTable) && `nft table ${instance.nftTable}`,
    existsSync(dataDir) && `data dir ${dataDir}`,
  ].filter(Boolean);
  assert.deepEqual(left, [], `left behind after removal (its report: ${r.stdout})`);
  assert.ok(exists('pool-info', otherPool), 'the pool it did not make stays');
  assert.ok(exists('net-info', otherNetwork), 'the network it did not make stays');
  assert.ok(nftHas(otherTable), 'the nftables table it did not make stays');
  assert.ok(exists('nwfilter-dumpxml', 'clean-traffic'), "libvirt's own filters stay");
});
