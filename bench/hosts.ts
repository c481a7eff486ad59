import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { defineDomainXML } from '../src/libvirt/connect.js';
import { buildDomainXml } from '../src/libvirt/xml/domain-builder.js';
import { LibvirtBus } from '../src/libvirt/bus.js';
import { startFleet, type ComposedFleet } from '../test/helpers/fleet.js';
import { startLibvirtStack } from '../test/helpers/libvirt-stack.js';
import { graphqlClient } from './lib/graphql-client.js';
import { BENCH_TOKEN, startServerProcess, type ServerProcess } from './lib/server-process.js';
import { percentile, pool, timed } from './lib/stats.js';

/**
 * Creates per second with one host and with two, 40 in flight (issue 18: two hosts ≥ 1.5 × one), each against
 * the raw cost measured in the same run: DomainDefineXML + Create of a domain of the same shape, spread over
 * the same buses. Hosts are test-driver libvirt-dbus processes on this machine (test/helpers/fleet.ts: the
 * control plane composed in this process as main.ts composes it, creates through the fleet: quota, placement,
 * MAC and addresses, volume, define, DHCP pin, start). What two hosts can give here is bounded by this
 * machine's cores, which the raw figure shows. The raw loop runs beside the fleet's syncs (they re-read what
 * it defines and starts, as they would any change on their hosts), so it is libvirt's cost with virtplane
 * watching, on both counts alike. Then the same through the server in its own process (measureServer).
 */
const CREATES = 200;
const ROUNDS = 3;
const IN_FLIGHT = 40;
const DOMAIN_IFACE = 'org.libvirt.Domain';
const TEST_DRIVER = '/org/libvirt/Test';
const admin = { userId: 'admin', name: 'admin', role: 'ADMIN', tokenId: 'bench' } as const;

const median = (xs: number[]) => percentile(xs, 0.5);
const perSecond = (ms: number) => (CREATES / ms) * 1000;

/** Creates per second of `CREATES` raw define + start, spread evenly over the hosts' buses, then undone (untimed). */
async function raw(buses: readonly LibvirtBus[], round: number): Promise<number> {
  const paths: { bus: number; path: string }[] = [];
  const ms = await timed(() =>
    pool(CREATES, IN_FLIGHT, async (i) => {
      const bus = buses[i % buses.length]!;
      const xml = buildDomainXml({
        type: 'test',
        name: `raw-${round}-${i}`,
        vcpus: 1,
        memoryMiB: 64,
        disks: [],
        cdrom: { source: null },
        interfaces: [{ network: 'default', mac: `52:54:00:ef:${round.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}` }],
        ownerId: 'bench',
      });
      const path = await defineDomainXML(bus, TEST_DRIVER, xml);
      await bus.call(path, DOMAIN_IFACE, 'Create', 'u', [0]);
      paths.push({ bus: i % buses.length, path });
    }),
  );
  await pool(paths.length, IN_FLIGHT, async (i) => {
    const { bus, path } = paths[i]!;
    await buses[bus]!.call(path, DOMAIN_IFACE, 'Destroy', 'u', [0]);
    await buses[bus]!.call(path, DOMAIN_IFACE, 'Undefine', 'u', [0]);
  });
  return perSecond(ms);
}

/** Creates per second of `CREATES` createDomain(start) through the fleet, then deleted (untimed). */
async function viaFleet(f: ComposedFleet, viewer: { userId: string; name: string; role: 'TENANT'; tokenId: string }, round: number) {
  const made: { hostId: number; uuid: string }[] = [];
  const ms = await timed(() =>
    pool(CREATES, IN_FLIGHT, async (i) => {
      const m = await f.fleet.create(viewer, {
        name: `vm-${round}-${i}`,
        vcpus: 1,
        memoryMiB: 64,
        diskGiB: 1,
        network: 'default',
        start: true,
      });
      made.push({ hostId: m.hostId, uuid: m.domain.uuid });
    }),
  );
  await pool(made.length, IN_FLIGHT, async (i) => {
    const { hostId, uuid } = made[i]!;
    await f.provisioning[f.runtimes.findIndex((r) => r.id === hostId)]!.delete(viewer, uuid, false);
  });
  const spread = f.runtimes.map((r) => made.filter((m) => m.hostId === r.id).length);
  return { rate: perSecond(ms), spread };
}

async function measure(hosts: number): Promise<{ raw: number; fleet: number; spread: number[] }> {
  const f = await startFleet(hosts);
  try {
    const tenant = f.users.create(admin, { name: `bench-${randomUUID().slice(0, 8)}`, role: 'TENANT' });
    f.quotas.set(admin, tenant.id, { maxDomains: 1000, maxVcpus: 1000, maxMemoryMiB: 1_000_000, maxDiskGiB: 10_000, maxInterfaces: 1000 });
    const viewer = { userId: tenant.id, name: tenant.name, role: 'TENANT' as const, tokenId: 'bench' };
    await viaFleet(f, viewer, 99); // warm-up: JIT, prepared statements, the storage pool made ready
    const raws: number[] = [];
    const fleets: number[] = [];
    let spread: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      raws.push(
        await raw(
          f.runtimes.map((r) => r.bus),
          round,
        ),
      );
      const r = await viaFleet(f, viewer, round);
      fleets.push(r.rate);
      spread = r.spread;
    }
    return { raw: median(raws), fleet: median(fleets), spread };
  } finally {
    await f.stop();
  }
}

const CREATE = `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename
  ... on CreateDomainSuccess { domain { id host { name } } } ... on Error { code message } } }`;
const DELETE = `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`;

/**
 * The same through the server as deployed (its own process, creates over HTTP, 40 in flight): one server
 * serving its own embedded host, or that and a second one (VIRTPLANE_HOSTS), against raw define + start over
 * the same buses.
 */
async function measureServer(hosts: number): Promise<{ raw: number; api: number; spread: Map<string, number> }> {
  const extra = hosts === 2 ? await startLibvirtStack() : null;
  let s: ServerProcess | undefined;
  const buses: LibvirtBus[] = [];
  try {
    s = await startServerProcess(BENCH_TOKEN, extra ? { VIRTPLANE_HOSTS: `hv2=${extra.stack.address}` } : {});
    buses.push(await LibvirtBus.connect({ kind: 'address', address: s.bus }));
    if (extra) buses.push(extra.bus);
    const gql = graphqlClient(s.url, BENCH_TOKEN);
    let spread = new Map<string, number>();
    const viaApi = async (round: number) => {
      const made: { id: string; host: string }[] = [];
      const ms = await timed(() =>
        pool(CREATES, IN_FLIGHT, async (i) => {
          const r = await gql(CREATE, {
            i: { name: `api-${round}-${i}`, vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'default', start: true },
          });
          const c = r.data?.createDomain;
          if (c?.__typename !== 'CreateDomainSuccess') throw new Error(`create failed: ${JSON.stringify(r)}`);
          made.push({ id: c.domain.id, host: c.domain.host.name });
        }),
      );
      await pool(made.length, IN_FLIGHT, async (i) => {
        const d = await gql(DELETE, { id: made[i]!.id });
        if (d.data?.deleteDomain?.__typename !== 'DeleteDomainSuccess') throw new Error(`delete failed: ${JSON.stringify(d)}`);
      });
      spread = new Map();
      for (const m of made) spread.set(m.host, (spread.get(m.host) ?? 0) + 1);
      return perSecond(ms);
    };
    await viaApi(99); // warm-up
    const raws: number[] = [];
    const apis: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      raws.push(await raw(buses, round));
      apis.push(await viaApi(round));
    }
    return { raw: median(raws), api: median(apis), spread };
  } finally {
    buses[0]?.disconnect();
    await s?.stop();
    await extra?.stop();
  }
}

export async function run(): Promise<void> {
  console.log(`machine: ${cpus().length} cores, Node ${process.version}, libvirt test driver, one private bus per host`);
  const results = [];
  for (const hosts of [1, 2]) {
    const r = await measure(hosts);
    results.push(r);
    console.log(
      `${hosts} host${hosts > 1 ? 's' : ''}, ${IN_FLIGHT} in flight: raw define+start × ${CREATES}: ${r.raw.toFixed(0)}/s; ` +
        `createDomain(start) through the fleet: ${r.fleet.toFixed(0)}/s (per host: ${r.spread.join(' + ')}), ratio ${(r.fleet / r.raw).toFixed(2)} (median of ${ROUNDS})`,
    );
  }
  const [one, two] = results as [(typeof results)[0], (typeof results)[0]];
  console.log(
    `two hosts / one: raw ${(two.raw / one.raw).toFixed(2)} (what this machine gives), fleet ${(two.fleet / one.fleet).toFixed(2)}`,
  );
  console.log(
    `issue 18's target, fleet two hosts ≥ 1.5 × one: ${(two.fleet / one.fleet).toFixed(2)} ${two.fleet / one.fleet >= 1.5 ? 'met' : 'MISSED'}`,
  );

  console.log('through the server (its own process, HTTP):');
  const served = [];
  for (const hosts of [1, 2]) {
    const r = await measureServer(hosts);
    served.push(r);
    console.log(
      `${hosts} host${hosts > 1 ? 's' : ''}, ${IN_FLIGHT} in flight: raw define+start × ${CREATES}: ${r.raw.toFixed(0)}/s; ` +
        `createDomain(start) over HTTP: ${r.api.toFixed(0)}/s (per host: ${[...r.spread.values()].join(' + ')}), ratio ${(r.api / r.raw).toFixed(2)} (median of ${ROUNDS})`,
    );
  }
  const [s1, s2] = served as [(typeof served)[0], (typeof served)[0]];
  console.log(
    `two hosts / one: raw ${(s2.raw / s1.raw).toFixed(2)}, server ${(s2.api / s1.api).toFixed(2)} (target ≥ 1.5: ${s2.api / s1.api >= 1.5 ? 'met' : 'MISSED'})`,
  );
}

await run();
