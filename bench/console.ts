/**
 * A keystroke's round trip through the serial console WebSocket against the same through a guest's raw unix
 * socket, in the same run, on real QEMU guests (GRUB at its prompt echoes each key). The server runs in its own
 * process, as deployed. QEMU's serial socket takes one client and the server holds its guests' sockets, so the
 * raw figure comes from a twin guest (same ISO) defined outside virtplane, whose socket only the benchmark uses.
 * Target: p99 through the WebSocket within 1 ms of raw. Figures are printed, never asserted.
 *
 * Needs root, libvirtd (started if none runs), grub-mkrescue and xorriso.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { acquireLibvirtd, domainType, uniquePrefix, virsh, virshQuiet } from '../test/helpers/qemu.js';
import { graphqlClient } from './lib/graphql-client.js';
import { BENCH_TOKEN, startServerProcess, type ServerProcess } from './lib/server-process.js';
import { ms, percentile } from './lib/stats.js';

const KEYS = 300;
const prefix = uniquePrefix('bench-cons');
const poolName = `${prefix}-pool`;
const networkName = `${prefix}-net`;
const vmName = `${prefix}-vm`;
const twinName = `${prefix}-raw`;
const bridge = `vb${randomBytes(4).toString('hex')}`;

/** Sends one key at a time and waits for the guest's echo of it; keys alternate so each echo is told apart. */
async function roundTrips(send: (b: Buffer) => void, onData: (fn: (d: Buffer) => void) => void): Promise<number[]> {
  let waiting: ((d: Buffer) => void) | null = null;
  onData((d) => waiting?.(d));
  const samples: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    const key = i % 2 ? 'a' : 'b';
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      let seen = '';
      waiting = (d) => {
        seen += d.toString('latin1');
        if (seen.includes(key)) resolve();
      };
      send(Buffer.from(key));
    });
    samples.push(performance.now() - t0);
  }
  send(Buffer.from('\x15')); // leave GRUB's line empty again
  return samples;
}

/** Waits (bounded) until GRUB's prompt arrived on a stream. */
async function prompt(onData: (fn: (d: Buffer) => void) => void, poke: () => void): Promise<void> {
  let text = '';
  onData((d) => (text += d.toString('latin1')));
  for (let i = 0; i < 2400 && !text.includes('grub>'); i++) {
    if (i % 40 === 39) poke(); // a viewer that came late sees a fresh prompt after a newline
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!text.includes('grub>')) throw new Error('GRUB did not reach its prompt');
}

function show(label: string, samples: number[]): void {
  console.log(`${label.padEnd(22)} p50 ${ms(percentile(samples, 0.5))}  p99 ${ms(percentile(samples, 0.99))}`);
}

const lease = await acquireLibvirtd();
const dir = mkdtempSync(join(tmpdir(), 'vpbench-console-'));
let server: ServerProcess | undefined;
try {
  chmodSync(dir, 0o755);
  const poolDir = join(dir, 'pool');
  mkdirSync(join(dir, 'grub', 'boot', 'grub'), { recursive: true });
  mkdirSync(poolDir);
  writeFileSync(
    join(dir, 'grub', 'boot', 'grub', 'grub.cfg'),
    'serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n',
  );
  const iso = join(poolDir, 'rescue.iso');
  execFileSync('grub-mkrescue', ['-o', iso, join(dir, 'grub')], { stdio: 'ignore' });
  server = await startServerProcess(BENCH_TOKEN, {
    VIRTPLANE_DRIVER: 'QEMU',
    VIRTPLANE_NFT: 'off',
    VIRTPLANE_STORAGE_POOL: poolName,
    VIRTPLANE_STORAGE_DIR: poolDir,
    VIRTPLANE_IMAGE_POOLS: poolName,
    VIRTPLANE_DOMAIN_TYPE: domainType(),
  });
  const gql = graphqlClient(server.url, BENCH_TOKEN);
  await gql(`mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename } }`, {
    i: { name: networkName, forwardMode: 'ISOLATED', bridge, start: true },
  });
  await gql(`mutation($p: String!) { addImage(name: "bench-rescue", path: $p) { __typename } }`, { p: iso });
  const made = await gql(
    `mutation($i: CreateDomainInput!) { createDomain(input: $i) { ... on CreateDomainSuccess { domain { id } } ... on Error { code message } } }`,
    { i: { name: vmName, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: networkName, installImage: 'bench-rescue', start: true } },
  );
  const id: string = made.data.createDomain.domain.id;

  // The twin: same ISO, serial socket in the benchmark's directory.
  const twinSocket = join(dir, 'twin.sock');
  writeFileSync(
    join(dir, 'twin.xml'),
    `<domain type='${domainType()}'><name>${twinName}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type><boot dev='cdrom'/></os><devices>
<disk type='file' device='cdrom'><source file='${iso}'/><target dev='sda' bus='sata'/><readonly/></disk>
<serial type='unix'><source mode='bind' path='${twinSocket}'/><target port='0'/></serial></devices></domain>`,
  );
  virsh('define', join(dir, 'twin.xml'));
  virsh('start', twinName);

  const ticket = await gql(
    `mutation($d: ID!) { r: createConsoleTicket(domainId: $d, kind: SERIAL) { ... on ConsoleTicketSuccess { websocketUrl } ... on Error { code message } } }`,
    { d: id },
  );
  const ws = new WebSocket(String(ticket.data.r.websocketUrl));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  await prompt(
    (fn) => ws.on('message', fn),
    () => ws.send(Buffer.from('\r')),
  );
  const raw = connect(twinSocket);
  await new Promise((resolve, reject) => raw.once('connect', resolve).once('error', reject));
  await prompt(
    (fn) => raw.on('data', fn),
    () => raw.write('\r'),
  );

  // Interleaved halves, so a change in the host's load touches both alike.
  const viaWs: number[] = [];
  const direct: number[] = [];
  for (let round = 0; round < 2; round++) {
    direct.push(
      ...(await roundTrips(
        (b) => raw.write(b),
        (fn) => raw.on('data', fn),
      )),
    );
    raw.removeAllListeners('data');
    viaWs.push(
      ...(await roundTrips(
        (b) => ws.send(b),
        (fn) => ws.on('message', fn),
      )),
    );
    ws.removeAllListeners('message');
  }
  ws.close();
  raw.destroy();

  console.log(`keystroke round trip, ${2 * KEYS} keys each, GRUB echoing (${domainType()} guests; server in its own process):`);
  show('raw unix socket', direct);
  show('serial WebSocket', viaWs);
  console.log(`p50 difference: ${ms(percentile(viaWs, 0.5) - percentile(direct, 0.5))}`);
  console.log(`p99 difference: ${ms(percentile(viaWs, 0.99) - percentile(direct, 0.99))} (target ≤ 1 ms)`);
} finally {
  for (const name of [vmName, twinName]) {
    virshQuiet('destroy', name);
    virshQuiet('undefine', name, '--nvram', '--managed-save');
  }
  virshQuiet('net-destroy', networkName);
  virshQuiet('net-undefine', networkName);
  await server?.stop();
  virshQuiet('pool-destroy', poolName);
  virshQuiet('pool-undefine', poolName);
  rmSync(dir, { recursive: true, force: true });
  await lease.release();
}
