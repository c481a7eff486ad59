/**
 * RFB bytes per second through the graphical console WebSocket (server in its own process) against a direct
 * read of a descriptor from OpenGraphicsFD, same guest (Debian's iPXE ISO on VGA), interleaved in one run.
 * The client asks for full, non-incremental raw frames back to back, two in flight. Target: ≥ 0.9× direct.
 * Figures are printed, never asserted. Needs root and libvirtd (started if none runs).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { GraphicsConsoles } from '../src/libvirt/graphics.js';
import { acquireLibvirtd, domainType, uniquePrefix, virshQuiet } from '../test/helpers/qemu.js';
import { graphqlClient } from './lib/graphql-client.js';
import { BENCH_TOKEN, startServerProcess, type ServerProcess } from './lib/server-process.js';

const SECONDS = 3;
const prefix = uniquePrefix('bench-rfb');
const poolName = `${prefix}-pool`;
const networkName = `${prefix}-net`;
const vmName = `${prefix}-vm`;
const bridge = `vr${randomBytes(4).toString('hex')}`;

/** A byte stream seen as "read exactly n bytes". */
class Reader {
  private buf = Buffer.alloc(0);
  private want: { n: number; resolve: (b: Buffer) => void } | null = null;
  total = 0;
  counting = false;

  push(d: Buffer): void {
    if (this.counting) {
      this.total += d.length;
      return;
    }
    this.buf = Buffer.concat([this.buf, d]);
    this.check();
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.want = { n, resolve };
      this.check();
    });
  }

  private check(): void {
    if (this.want && this.buf.length >= this.want.n) {
      const { n, resolve } = this.want;
      this.want = null;
      const out = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      resolve(out);
    }
  }
}

/** RFB 3.8 handshake (security None), raw encoding only; then full-frame requests for SECONDS; bytes/s. */
async function throughput(send: (b: Buffer) => void, reader: Reader): Promise<number> {
  await reader.read(12);
  send(Buffer.from('RFB 003.008\n'));
  const [count] = await reader.read(1);
  await reader.read(count!);
  send(Buffer.from([1]));
  await reader.read(4);
  send(Buffer.from([1])); // shared
  const init = await reader.read(24);
  await reader.read(init.readUInt32BE(20));
  const [w, h] = [init.readUInt16BE(0), init.readUInt16BE(2)];
  send(Buffer.from([2, 0, 0, 1, 0, 0, 0, 0]));
  const request = Buffer.from([3, 0, 0, 0, 0, 0, w >> 8, w & 255, h >> 8, h & 255]);
  const frame = w * h * 4;
  reader.counting = true;
  const t0 = performance.now();
  send(request);
  send(request);
  let asked = 2;
  while (performance.now() - t0 < SECONDS * 1000) {
    await new Promise((r) => setTimeout(r, 1));
    // Keep two frames in flight.
    while (reader.total > (asked - 2) * frame) {
      send(request);
      asked++;
    }
  }
  return reader.total / ((performance.now() - t0) / 1000);
}

const lease = await acquireLibvirtd();
const dir = mkdtempSync(join(tmpdir(), 'vpbench-rfb-'));
let server: ServerProcess | undefined;
let graphics: GraphicsConsoles | undefined;
try {
  chmodSync(dir, 0o755);
  const poolDir = join(dir, 'pool');
  mkdirSync(poolDir);
  copyFileSync('/usr/lib/ipxe/ipxe.iso', join(poolDir, 'ipxe.iso'));
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
  await gql(`mutation($p: String!) { addImage(name: "bench-ipxe", path: $p) { __typename } }`, { p: join(poolDir, 'ipxe.iso') });
  const made = await gql(
    `mutation($i: CreateDomainInput!) { createDomain(input: $i) { ... on CreateDomainSuccess { domain { id uuid } } ... on Error { code message } } }`,
    { i: { name: vmName, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: networkName, installImage: 'bench-ipxe', start: true } },
  );
  const { id, uuid } = made.data.createDomain.domain as { id: string; uuid: string };
  graphics = new GraphicsConsoles({ kind: 'address', address: server.bus });
  const domainPath = `/org/libvirt/QEMU/domain/_${uuid.replace(/-/g, '_')}`;

  // A first round is discarded: right after start the guest is still switching VGA modes.
  const warm = await graphics.open(domainPath);
  const r0 = new Reader();
  warm.on('data', (d: Buffer) => r0.push(d));
  await throughput((b) => warm.write(b), r0);
  warm.destroy();

  const viaWs: number[] = [];
  const direct: number[] = [];
  for (let round = 0; round < 2; round++) {
    const socket = await graphics.open(domainPath);
    const r1 = new Reader();
    socket.on('data', (d: Buffer) => r1.push(d));
    direct.push(await throughput((b) => socket.write(b), r1));
    socket.destroy();

    const ticket = await gql(
      `mutation($d: ID!) { r: createConsoleTicket(domainId: $d, kind: GRAPHICS) { ... on ConsoleTicketSuccess { websocketUrl } } }`,
      { d: id },
    );
    const ws = new WebSocket(String(ticket.data.r.websocketUrl));
    const r2 = new Reader();
    ws.on('message', (d: Buffer) => r2.push(d));
    viaWs.push(await throughput((b) => ws.send(b), r2));
    ws.close();
  }
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB/s`;
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`RFB raw full frames, ${SECONDS} s × 2 each (${domainType()} guest, iPXE on VGA; server in its own process):`);
  console.log(`direct OpenGraphicsFD descriptor  ${direct.map(mb).join(', ')}`);
  console.log(`console WebSocket                 ${viaWs.map(mb).join(', ')}`);
  console.log(`ratio WebSocket / direct: ${(avg(viaWs) / avg(direct)).toFixed(2)} (target ≥ 0.9)`);
} finally {
  graphics?.close();
  virshQuiet('destroy', vmName);
  virshQuiet('undefine', vmName, '--nvram', '--managed-save');
  virshQuiet('net-destroy', networkName);
  virshQuiet('net-undefine', networkName);
  await server?.stop();
  virshQuiet('pool-destroy', poolName);
  virshQuiet('pool-undefine', poolName);
  rmSync(dir, { recursive: true, force: true });
  await lease.release();
}
