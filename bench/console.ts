/**
 * A keystroke's round trip through the serial console WebSocket against the same through the guest's raw unix
 * socket, in the same run, on a real QEMU guest (GRUB at its prompt echoes each key). Target: p99 through the
 * WebSocket within 1 ms of raw. Figures are printed, never asserted.
 *
 * Needs root, libvirtd (started if none runs), grub-mkrescue and xorriso.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { acquireLibvirtd, domainType, uniquePrefix, virshQuiet } from '../test/helpers/qemu.js';
import { startTestServer, type TestServer } from '../test/helpers/server.js';
import { ms, percentile } from './lib/stats.js';

const KEYS = 300;
const prefix = uniquePrefix('bench-cons');
const poolName = `${prefix}-pool`;
const networkName = `${prefix}-net`;
const vmName = `${prefix}-vm`;
const bridge = `vb${randomBytes(4).toString('hex')}`;

/** Sends one key and waits for the guest's echo of it; the key alternates so each echo is told apart. */
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
  // Leave GRUB's line empty again.
  send(Buffer.from('\x15'));
  return samples;
}

function show(label: string, samples: number[]): void {
  console.log(`${label.padEnd(22)} p50 ${ms(percentile(samples, 0.5))}  p99 ${ms(percentile(samples, 0.99))}`);
}

const lease = await acquireLibvirtd();
const dir = mkdtempSync(join(tmpdir(), 'vpbench-console-'));
let s: TestServer | undefined;
try {
  chmodSync(dir, 0o755);
  const poolDir = join(dir, 'pool');
  mkdirSync(join(dir, 'grub', 'boot', 'grub'), { recursive: true });
  mkdirSync(poolDir);
  writeFileSync(join(dir, 'grub', 'boot', 'grub', 'grub.cfg'), 'serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n');
  execFileSync('grub-mkrescue', ['-o', join(poolDir, 'rescue.iso'), join(dir, 'grub')], { stdio: 'ignore' });
  s = await startTestServer({
    driver: 'QEMU',
    imagePools: [poolName],
    provisioning: { storagePool: poolName, storageDir: poolDir, domainType: domainType(), maxVcpus: null, maxMemoryMiB: null, maxDiskGiB: 4, partitions: false },
  });
  await s.gql(`mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename } }`, { i: { name: networkName, forwardMode: 'ISOLATED', bridge, start: true } });
  await s.gql(`mutation($p: String!) { addImage(name: "bench-rescue", path: $p) { __typename } }`, { p: join(poolDir, 'rescue.iso') });
  const made = await s.gql(
    `mutation($i: CreateDomainInput!) { createDomain(input: $i) { ... on CreateDomainSuccess { domain { id uuid } } ... on Error { code message } } }`,
    { i: { name: vmName, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: networkName, installImage: 'bench-rescue', start: true } },
  );
  const { id, uuid } = made.data.createDomain.domain as { id: string; uuid: string };
  const ticket = async () =>
    (await s!.gql(`mutation($d: ID!) { r: createConsoleTicket(domainId: $d, kind: SERIAL) { ... on ConsoleTicketSuccess { websocketUrl } } }`, { d: id })).data.r.websocketUrl as string;

  // Through the WebSocket (wait for GRUB's prompt first).
  const ws = new WebSocket(await ticket());
  let text = '';
  ws.on('message', (d: Buffer) => (text += d.toString('latin1')));
  for (let i = 0; i < 1200 && !text.includes('grub>'); i++) await new Promise((r) => setTimeout(r, 50));
  if (!text.includes('grub>')) throw new Error('GRUB did not reach its prompt');
  const viaWs = await roundTrips((b) => ws.send(b), (fn) => ws.on('message', fn));
  ws.close();

  // Raw: the server lets go of the guest's socket (QEMU takes one client), the bench connects itself.
  const socketPath = join(s.dataDir, 'run', 'serial', `${uuid}.sock`);
  s.app.services.console.serial.stopped(uuid);
  const raw: Socket = connect(socketPath);
  await new Promise((resolve, reject) => raw.once('connect', resolve).once('error', reject));
  const direct = await roundTrips((b) => raw.write(b), (fn) => raw.on('data', fn));
  raw.destroy();

  console.log(`keystroke round trip, ${KEYS} keys, GRUB echoing (TCG guest):`);
  show('raw unix socket', direct);
  show('serial WebSocket', viaWs);
  console.log(`p99 difference: ${ms(percentile(viaWs, 0.99) - percentile(direct, 0.99))} (target ≤ 1 ms)`);
} finally {
  virshQuiet('destroy', vmName);
  virshQuiet('undefine', vmName, '--nvram', '--managed-save');
  virshQuiet('net-destroy', networkName);
  virshQuiet('net-undefine', networkName);
  await s?.stop();
  virshQuiet('pool-destroy', poolName);
  virshQuiet('pool-undefine', poolName);
  rmSync(dir, { recursive: true, force: true });
  await lease.release();
}
