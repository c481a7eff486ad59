import { cpus } from 'node:os';
import { LibvirtBus } from '../src/libvirt/bus.js';
import { defineDomainXML } from '../src/libvirt/connect.js';
import { addDhcpHost, deleteDhcpHost, type NetworkTarget } from '../src/libvirt/network.js';
import { createVolume, deleteVolume, listPools, readPool } from '../src/libvirt/storage.js';
import { buildDomainXml } from '../src/libvirt/xml/domain-builder.js';
import type { DiskSource } from '../src/model/index.js';
import { graphqlClient } from './lib/graphql-client.js';
import { BENCH_TOKEN, cpuSecondsOf, startServerProcess, type ServerProcess } from './lib/server-process.js';
import { percentile, pool, timed } from './lib/stats.js';

/**
 * createDomain(start: true) + deleteDomain through the API (quota, MAC and addresses, disk volume, define,
 * DHCP pin, start; then stop, undefine, volume delete, releases) against raw DomainDefineXML + Create +
 * Destroy + Undefine of a domain of the same shape, measured in the same run on the libvirt test driver.
 * Target: API throughput ≥ 0.5 × raw. Both run with the same number of domains in flight. The server runs
 * in its own process, as deployed; both clients run in this one (the API's is plain node:http with keep-alive).
 *
 * A second raw loop makes the libvirt changes the API makes for a create + delete — volume and DHCP host
 * (together), define, create; destroy, undefine, volume delete and DHCP host delete (together) — so the API's
 * own cost over the libvirt work it must do shows apart from that work. Issue 15's target: API throughput
 * ≥ 0.6 × that loop, at 1 and at 8 in flight, with durable commits (WAL, synchronous = FULL).
 */
const DOMAINS = 200;
const ROUNDS = 5;
const WARM_UP = 50;
const DRIVER = '/org/libvirt/Test';
const DOMAIN_IFACE = 'org.libvirt.Domain';

const CREATE = `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { id state } } ... on Error { code message } } }`;
const DELETE = `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`;

/** The MAC of raw domain `i` (0–0xffff): unique among the domains in flight. */
const rawMac = (i: number) => `52:54:00:ee:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

function rawXml(i: number, disk: DiskSource = { type: 'file', path: `/default-pool/raw-${i & 0xffff}.qcow2` }): string {
  i &= 0xffff;
  return buildDomainXml({
    type: 'test',
    name: `raw-${i}`,
    vcpus: 1,
    memoryMiB: 128,
    disks: [{ source: disk, format: 'qcow2' }],
    cdrom: { source: null },
    interfaces: [{ network: 'default', mac: rawMac(i) }],
    graphics: { type: 'VNC', password: 'benchpw1' },
    ownerId: 'bench',
  });
}

export async function run(): Promise<void> {
  let s: ServerProcess | undefined;
  let raw: LibvirtBus | undefined;
  try {
    s = await startServerProcess(BENCH_TOKEN);
    raw = await LibvirtBus.connect({ kind: 'address', address: s.bus });
    const gql = graphqlClient(s.url, BENCH_TOKEN);
    let serial = 0;
    const rawRun = (n: number, inFlight: number) =>
      timed(() =>
        pool(n, inFlight, async () => {
          const path = await defineDomainXML(raw!, DRIVER, rawXml(serial++));
          await raw!.call(path, DOMAIN_IFACE, 'Create', 'u', [0]);
          await raw!.call(path, DOMAIN_IFACE, 'Destroy', 'u', [0]);
          await raw!.call(path, DOMAIN_IFACE, 'Undefine', 'u', [0]);
        }),
      );
    // The server's storage pool (made by its first create, named per installation: virtplane-<id>) and the test
    // driver's default network, which the API uses.
    let poolPath = '';
    let poolName = '';
    const [networkPath] = (await raw.call(DRIVER, 'org.libvirt.Connect', 'NetworkLookupByName', 's', ['default'])) as [string];
    const network: NetworkTarget = { path: networkPath, active: true, persistent: true };
    const sameRun = (n: number, inFlight: number) =>
      timed(() =>
        pool(n, inFlight, async () => {
          const i = serial++ & 0xffff;
          // The domain's own MAC, as the API pins it; an address distinct for 8 in flight, which the API does not
          // hand out meanwhile (it runs in other phases).
          const host = { mac: rawMac(i), ip: `192.168.122.${2 + (i % 250)}` };
          const name = `raw-${i}.qcow2`;
          const [volume] = await Promise.all([
            createVolume(raw!, poolPath, { name, capacityBytes: 1024 ** 3, format: 'qcow2' }, 'dir'),
            addDhcpHost(raw!, network, host),
          ]);
          try {
            // The disk names the volume as the API's domains do, so the server's re-reads treat both alike.
            const path = await defineDomainXML(raw!, DRIVER, rawXml(i, { type: 'volume', pool: poolName, volume: name }));
            await raw!.call(path, DOMAIN_IFACE, 'Create', 'u', [0]);
            await raw!.call(path, DOMAIN_IFACE, 'Destroy', 'u', [0]);
            await raw!.call(path, DOMAIN_IFACE, 'Undefine', 'u', [0]);
          } finally {
            // Never left behind: a DHCP host the server does not know of would refuse the API's later pins.
            await Promise.all([deleteVolume(raw!, volume), deleteDhcpHost(raw!, network, host)]);
          }
        }),
      );
    const apiRun = (n: number, inFlight: number) =>
      timed(() =>
        pool(n, inFlight, async () => {
          const c = await gql(CREATE, {
            i: { name: `api-${serial++}`, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', start: true },
          });
          const made = c.data?.createDomain;
          if (made?.__typename !== 'CreateDomainSuccess' || made.domain.state !== 'RUNNING')
            throw new Error(`create failed: ${JSON.stringify(c)}`);
          const d = await gql(DELETE, { id: made.domain.id });
          if (d.data?.deleteDomain?.__typename !== 'DeleteDomainSuccess') throw new Error(`delete failed: ${JSON.stringify(d)}`);
        }),
      );
    // The server re-reads and logs every raw domain's events too, and may still be at it when the raw calls
    // return: each phase starts once it has caught up (the last UNDEFINED committed, the count back where it was).
    const count = async (): Promise<number> => (await gql(`{ domains { totalCount } }`)).data.domains.totalCount;
    const baseline = await count();
    const settled = async () => {
      while ((await count()) !== baseline) await new Promise((r) => setTimeout(r, 5));
    };
    // Both sides warm (JIT, caches, the storage pool) before anything counts.
    await rawRun(WARM_UP, 8);
    await settled();
    await apiRun(WARM_UP, 8);
    for (const path of await listPools(raw, DRIVER)) {
      const pool = await readPool(raw, path);
      if (pool.name.startsWith('virtplane')) [poolPath, poolName] = [path, pool.name];
    }
    if (!poolPath) throw new Error("the server's storage pool was not found after its first creates");
    const lines = [
      `machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}, libvirt test driver, private bus`,
    ];
    for (const inFlight of [1, 8]) {
      const rates = { raw: [] as number[], same: [] as number[], api: [] as number[] };
      const serverCpuMs: number[] = [];
      // Rounds alternate raw and API, so a disturbance on the machine spreads over both; medians are reported.
      for (let round = 0; round < ROUNDS; round++) {
        rates.raw.push(DOMAINS / ((await rawRun(DOMAINS, inFlight)) / 1000));
        await settled();
        rates.same.push(DOMAINS / ((await sameRun(DOMAINS, inFlight)) / 1000));
        await settled();
        const cpu0 = cpuSecondsOf(s.pid);
        rates.api.push(DOMAINS / ((await apiRun(DOMAINS, inFlight)) / 1000));
        await settled();
        serverCpuMs.push(((cpuSecondsOf(s.pid) - cpu0) * 1000) / DOMAINS);
      }
      const rawRate = percentile(rates.raw, 0.5);
      const sameRate = percentile(rates.same, 0.5);
      const apiRate = percentile(rates.api, 0.5);
      const ratios = rates.api.map((a, k) => a / rates.raw[k]!).sort((a, b) => a - b);
      const sameRatios = rates.api.map((a, k) => a / rates.same[k]!).sort((a, b) => a - b);
      lines.push(
        `${inFlight} in flight: raw define+create+destroy+undefine × ${DOMAINS}, median of ${ROUNDS}: ${rawRate.toFixed(0)}/s`,
        `${inFlight} in flight: createDomain(start) + deleteDomain via API × ${DOMAINS}, median of ${ROUNDS}: ${apiRate.toFixed(0)}/s`,
        `  ratio API / raw: ${(apiRate / rawRate).toFixed(2)} (per round ${ratios.map((r) => r.toFixed(2)).join(', ')}; target ≥ 0.5) ${apiRate >= 0.5 * rawRate ? 'met' : 'MISSED'}`,
        `  server CPU per create + delete: ${percentile(serverCpuMs, 0.5).toFixed(2)} ms (median of ${ROUNDS})`,
        `${inFlight} in flight: raw with the API's libvirt changes (+ volume, DHCP host) × ${DOMAINS}, median of ${ROUNDS}: ${sameRate.toFixed(0)}/s`,
        `  ratio API / that (for information: the API's cost over the libvirt work it must do): ${(apiRate / sameRate).toFixed(2)}`,
        `  issue 15's target, API ≥ 0.6 × that: ${(apiRate / sameRate).toFixed(2)} (per round ${sameRatios.map((r) => r.toFixed(2)).join(', ')}) ${apiRate >= 0.6 * sameRate ? 'met' : 'MISSED'}`,
      );
    }
    lines.push(`domains left afterwards: ${await count()} (the test driver's own)`);
    for (const l of lines) console.log(l);
  } finally {
    raw?.disconnect();
    await s?.stop();
  }
}

// bench/run.ts runs each benchmark file as its own process.
await run();
