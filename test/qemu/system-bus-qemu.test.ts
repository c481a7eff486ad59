import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { virtplaneFilterNames } from '../../src/libvirt/xml/nwfilter.js';
import type { InstanceNames } from '../../src/services/instance/instance.js';
import { collect } from '../helpers/server.js';
import { npmStart, type NpmStarted } from '../helpers/npm-start.js';
import { commandLine, processGone, waitGone } from '../helpers/processes.js';
import { acquireLibvirtd, domainType, uniquePrefix, virsh, virshQuiet, type ExclusiveLibvirtdLease } from '../helpers/qemu.js';
import { ipv4Plus, unusedDocumentationBlock } from '../helpers/subnets.js';
import { acquireSystemBus, type SystemBusLease } from '../helpers/system-bus.js';

/**
 * The real-host mode as the README sets it up on Debian 12: the system dbus-daemon with the system
 * configuration, then virtlogd and libvirtd, then `npm start` with VIRTPLANE_BUS=system VIRTPLANE_DRIVER=QEMU.
 * The server's first call bus-activates `/usr/sbin/libvirt-dbus --system` as user libvirtdbus, and libvirtd asks
 * the bus-activated polkitd whether that user may manage qemu:///system.
 */
const TOKEN = 'system-bus-admin-token-0123456789';
const prefix = uniquePrefix('sysbus');
const pool = `${prefix}-pool`;
const network = `${prefix}-net`;
const vmName = `${prefix}-vm`;
const bridge = `vpsb${randomBytes(4).toString('hex')}`;
const nftTable = `vptest_sysbus_${process.pid}`;
let lease: ExclusiveLibvirtdLease;
let bus: SystemBusLease;
let server: NpmStarted | undefined;
let ws: Client | undefined;
let dataDir: string;
let startedLine: string | undefined;

const gql = async (query: string, variables?: Record<string, unknown>) => {
  const res = await fetch(server!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: any; errors?: unknown[] };
};

before(async () => {
  lease = await acquireLibvirtd({ exclusive: true });
  // Should this process die half-way, the watcher also stops libvirtd: it would keep a dead bus connection.
  bus = await acquireSystemBus();
  // libvirtd connects to the system bus once, when it first needs it, and never again: one that started (or
  // looked for the bus) before the bus ran can never ask polkitd, and refuses every user but root ("Unable to
  // get system bus connection"). So: the bus first, then libvirtd. (And libvirtd exits when that bus goes.)
  await lease.stopLibvirtd();
  await lease.startLibvirtd();
  dataDir = mkdtempSync(join(tmpdir(), 'vptest-sysbus-'));
  chmodSync(dataDir, 0o711); // QEMU runs as libvirt-qemu: it must reach the disks in the pool below
});

/** What this file made in libvirt and nftables, whether or not the tests got that far. */
function removeWhatThisMade(): void {
  virshQuiet('destroy', vmName);
  virshQuiet('undefine', vmName, '--nvram', '--managed-save');
  virshQuiet('net-destroy', network);
  virshQuiet('net-undefine', network);
  virshQuiet('pool-destroy', pool);
  virshQuiet('pool-undefine', pool);
  try {
    execFileSync('nft', ['delete', 'table', 'inet', nftTable], { stdio: 'ignore' });
  } catch {
    /* never made */
  }
  // The server's nwfilters, named after its instance (from its "virtplane listening" line).
  const listening = server?.lines.find((l) => l.includes('"virtplane listening"')) ?? startedLine;
  if (listening) {
    const { instance } = JSON.parse(listening) as { instance: InstanceNames };
    const { clean, router, spoofing } = virtplaneFilterNames(instance.nwfilterPrefix);
    for (const f of [clean, router, spoofing]) virshQuiet('nwfilter-undefine', f); // users before what they use
  }
}

after(async () => {
  await ws?.dispose();
  await server?.stop();
  // Before the bus stops: libvirtd exits when its system bus connection closes (GDBus' exit-on-close).
  if (lease) removeWhatThisMade();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  await bus?.stop();
  // release() starts libvirtd again if it is gone, before anyone else gets it.
  await lease?.release();
});

test('on the system bus: host answers through bus-activated libvirt-dbus as libvirtdbus, authorized by polkitd', async () => {
  server = await npmStart({
    VIRTPLANE_BUS: 'system',
    VIRTPLANE_DRIVER: 'QEMU',
    VIRTPLANE_DATA_DIR: dataDir,
    VIRTPLANE_ADMIN_TOKEN: TOKEN,
    VIRTPLANE_STORAGE_POOL: pool,
    VIRTPLANE_NFT_TABLE: nftTable,
    VIRTPLANE_DOMAIN_TYPE: domainType(),
  });
  startedLine = server.lines.find((l) => l.includes('"virtplane listening"'));
  const host = await gql('{ host { driver libvirtVersion stale } }');
  assert.equal(host.data?.host.driver, 'QEMU', JSON.stringify(host));
  assert.match(host.data.host.libvirtVersion, /^\d+\.\d+\.\d+$/, JSON.stringify(host));
  const libvirtDbus = bus.ownerOf('org.libvirt');
  assert.ok(libvirtDbus, 'org.libvirt should be owned on the system bus');
  assert.equal(commandLine(libvirtDbus), '/usr/sbin/libvirt-dbus --system', 'libvirt-dbus as Debian activates it');
  const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${libvirtDbus}/status`, 'utf8'))?.[1];
  assert.equal(uid, execFileSync('id', ['-u', 'libvirtdbus'], { encoding: 'utf8' }).trim(), 'libvirt-dbus runs as user libvirtdbus');
  assert.ok(bus.ownerOf('org.freedesktop.PolicyKit1'), 'libvirtd asked polkitd, which the bus activated');
});

test('on the system bus: a network and a guest through the API, with lifecycle events, then deleted', async () => {
  assert.ok(server, 'the server started in the test before');
  const base = unusedDocumentationBlock(29);
  const net = await gql(
    `mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename ... on CreateNetworkSuccess { network { id } } ... on Error { code message } } }`,
    {
      i: {
        name: network,
        forwardMode: 'ISOLATED',
        bridge,
        start: true,
        ipv4: { address: ipv4Plus(base, 1), prefix: 29, dhcpRange: { start: ipv4Plus(base, 2), end: ipv4Plus(base, 6) } },
        ipv6: { address: `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`, prefix: 64 },
      },
    },
  );
  assert.equal(net.data?.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(net));

  ws = createClient({
    url: server.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: { authorization: `Bearer ${TOKEN}` },
  });
  const events = collect(ws, `subscription { domainEvents { type domain { name } } }`);
  // The subscription is in place once a query on the same connection has answered.
  await new Promise((resolve, reject) =>
    ws!.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: () => resolve(null) }),
  );

  const created = await gql(
    `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { id state } } ... on Error { code message } } }`,
    { i: { name: vmName, vcpus: 1, memoryMiB: 64, diskGiB: 1, network, start: true } },
  );
  assert.equal(created.data?.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(created));
  assert.equal(created.data.createDomain.domain.state, 'RUNNING');
  assert.equal(virsh('domstate', vmName).trim(), 'running');

  const deleted = await gql(`mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`, {
    id: created.data.createDomain.domain.id,
  });
  assert.equal(deleted.data?.deleteDomain.__typename, 'DeleteDomainSuccess', JSON.stringify(deleted));
  for (let n = 1; !events.items.some((e: any) => e.domainEvents.type === 'UNDEFINED'); n++) await events.next(n, 30_000);
  const seen = events.items.map((e: any) => e.domainEvents.type);
  assert.deepEqual(
    ['DEFINED', 'STARTED', 'STOPPED', 'UNDEFINED'].filter((t) => !seen.includes(t)),
    [],
    `the subscriber should see the guest defined, started, stopped and undefined, saw ${seen.join(', ')}`,
  );
  assert.ok(
    events.items.every((e: any) => e.domainEvents.domain.name === vmName),
    JSON.stringify(events.items),
  );
  events.unsubscribe();

  const gone = await gql(`mutation($id: ID!) { deleteNetwork(id: $id) { __typename ... on Error { code message } } }`, {
    id: net.data.createNetwork.network.id,
  });
  assert.equal(gone.data?.deleteNetwork.__typename, 'DeleteNetworkSuccess', JSON.stringify(gone));
});

test('stopped by SIGTERM to its PID; afterwards nothing it or the bus activation started is left', async () => {
  assert.ok(server, 'the server started in the test before');
  const libvirtDbus = bus.ownerOf('org.libvirt')!;
  const polkitd = bus.ownerOf('org.freedesktop.PolicyKit1')!;
  assert.equal(await server.stop(), 0, 'npm start exits 0 on SIGTERM');
  server = undefined;
  assert.equal(
    virsh('list', '--all', '--name')
      .split('\n')
      .filter((n) => n.startsWith(prefix)).length,
    0,
    'no domain of this test is left',
  );
  removeWhatThisMade();
  const ended = await bus.stop();
  assert.deepEqual(ended.sort(), [libvirtDbus, polkitd].sort(), 'the lease ends the bus-activated services it caused');
  assert.deepEqual(await waitGone([libvirtDbus, polkitd]), [], 'libvirt-dbus and polkitd are gone');
  if (bus.pid) assert.ok(processGone(bus.pid), 'the system bus this test started is gone');
});
