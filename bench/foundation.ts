import { cpus } from 'node:os';
import { LibvirtBus, type LibvirtSignal } from '../src/libvirt/bus.js';
import { defineDomainXML, listDomainPaths } from '../src/libvirt/connect.js';
import { domainEventName } from '../src/libvirt/constants.js';
import { uuidFromDomainPath } from '../src/libvirt/domain.js';
import { domainGlobalId, startTestServer, type TestServer } from '../test/helpers/server.js';
import { ms, percentile, timed } from './lib/stats.js';

/**
 * The foundation's two promises, against the raw D-Bus cost measured in the same run on the libvirt test
 * driver (private bus + libvirt-dbus, as `npm start` runs it):
 * - `domains(first: 1000)` over HTTP is served from the cache: p50 ≤ 0.1 × a raw cold sweep
 *   (ListDomains + GetAll for each, all in flight up to the bus' cap);
 * - a lifecycle event reaches a graphql-ws subscriber within raw signal latency + 2 ms (p99).
 */
const DOMAINS = 1000;
const SWEEP_RUNS = 5;
const QUERY_RUNS = 30;
const EVENT_RUNS = 200;
const DRIVER = '/org/libvirt/Test';
const DOMAIN_IFACE = 'org.libvirt.Domain';

function benchDomainXml(i: number): string {
  const name = `bench-${String(i).padStart(4, '0')}`;
  return `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`;
}

/** Waits for the first signal matching `pred` on `bus`, with its arrival time. */
function nextSignal(bus: LibvirtBus, pred: (s: LibvirtSignal) => boolean, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      bus.off('signal', on);
      reject(new Error('timed out waiting for a signal'));
    }, timeoutMs);
    const on = (s: LibvirtSignal) => {
      if (!pred(s)) return;
      const at = performance.now();
      clearTimeout(timer);
      bus.off('signal', on);
      resolve(at);
    };
    bus.on('signal', on);
  });
}

const isEvent = (path: string, type: string) => (s: LibvirtSignal) =>
  s.member === 'DomainEvent' && s.body[0] === path && domainEventName(s.body[1] as number) === type;

export async function run(): Promise<void> {
  let s: TestServer | undefined;
  let raw: LibvirtBus | undefined;
  try {
    s = await startTestServer();
    raw = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    const before = (await s.gql(`{ domains { totalCount } }`)).data.domains.totalCount as number;

    // 1000 domains, defined raw; the server picks each up from its DEFINED signal.
    let defined: string[] = [];
    const defineMs = await timed(async () => {
      defined = await Promise.all(Array.from({ length: DOMAINS }, (_, i) => defineDomainXML(raw!, DRIVER, benchDomainXml(i))));
    });
    let seen = 0;
    for (let i = 0; i < 200 && seen < before + DOMAINS; i++) {
      seen = (await s.gql(`{ domains { totalCount } }`)).data.domains.totalCount;
      if (seen < before + DOMAINS) await new Promise((r) => setTimeout(r, 50));
    }
    if (seen < before + DOMAINS) throw new Error(`the server holds ${seen} domains, expected ${before + DOMAINS}`);

    // Raw cold sweep: what answering from libvirt would cost.
    const sweeps: number[] = [];
    for (let i = 0; i < SWEEP_RUNS; i++) {
      sweeps.push(
        await timed(async () => {
          const paths = await listDomainPaths(raw!, DRIVER, 'bulk');
          await Promise.all(paths.map((p) => raw!.getAllProperties(p, DOMAIN_IFACE, 'bulk')));
        }),
      );
    }

    // The same list through the API, from the cache.
    const query = `{ domains(first: ${DOMAINS}) { totalCount edges { node { id name state vcpus memoryMiB } } } }`;
    const check = await s.gql(query);
    if (check.errors || check.data.domains.edges.length !== DOMAINS)
      throw new Error(`query failed: ${JSON.stringify(check.errors ?? check.data)}`);
    for (let i = 0; i < 3; i++) await s.gql(query);
    const queries: number[] = [];
    for (let i = 0; i < QUERY_RUNS; i++) queries.push(await timed(() => s!.gql(query)));

    // Event latency: one raw Create, timed to the raw signal and to the graphql-ws subscriber.
    await raw.subscribeDriver(DRIVER);
    const path = defined[0]!;
    const target = uuidFromDomainPath(path);
    const client = s.ws();
    const wsEvents: { type: string; at: number }[] = [];
    let wake: (() => void) | null = null;
    client.subscribe(
      {
        query: `subscription($id: ID) { domainEvents(domainId: $id) { type domain { state } } }`,
        variables: { id: domainGlobalId(target) },
      },
      {
        next: (v: any) => {
          wsEvents.push({ type: v.data.domainEvents.type, at: performance.now() });
          wake?.();
        },
        error: (e) => console.error('subscription error', e),
        complete: () => {},
      },
    );
    await new Promise<void>((resolve, reject) =>
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
    );
    const nextWs = async (type: string): Promise<number> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const i = wsEvents.findIndex((e) => e.type === type);
        if (i >= 0) return wsEvents.splice(0, i + 1)[i]!.at;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${type} on graphql-ws`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
        wake = null;
      }
    };
    const rawLatency: number[] = [];
    const wsLatency: number[] = [];
    for (let i = 0; i < EVENT_RUNS; i++) {
      const signal = nextSignal(raw, isEvent(path, 'STARTED'));
      const ws = nextWs('STARTED');
      const t0 = performance.now();
      await raw.call(path, DOMAIN_IFACE, 'Create', 'u', [0]);
      rawLatency.push((await signal) - t0);
      wsLatency.push((await ws) - t0);
      const stopped = nextWs('STOPPED');
      await raw.call(path, DOMAIN_IFACE, 'Destroy', 'u', [0]);
      await stopped;
    }

    const sweepP50 = percentile(sweeps, 0.5);
    const qP50 = percentile(queries, 0.5);
    const rawP99 = percentile(rawLatency, 0.99);
    const wsP99 = percentile(wsLatency, 0.99);
    const lines = [
      `machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}, libvirt test driver, private bus`,
      `define ${DOMAINS} domains (raw DomainDefineXML, capped in flight): ${ms(defineMs)}`,
      `raw cold sweep, ListDomains + GetAll × ${before + DOMAINS} (p50 of ${SWEEP_RUNS}): ${ms(sweepP50)}`,
      `domains(first: ${DOMAINS}) over HTTP (${QUERY_RUNS} runs): p50 ${ms(qP50)}, p99 ${ms(percentile(queries, 0.99))}`,
      `  ratio p50 / raw sweep: ${(qP50 / sweepP50).toFixed(3)} (target ≤ 0.1) ${qP50 <= 0.1 * sweepP50 ? 'met' : 'MISSED'}`,
      `raw Create → DomainEvent signal (${EVENT_RUNS} runs): p50 ${ms(percentile(rawLatency, 0.5))}, p99 ${ms(rawP99)}`,
      `raw Create → graphql-ws subscriber (same calls): p50 ${ms(percentile(wsLatency, 0.5))}, p99 ${ms(wsP99)}`,
      `  p99 difference: ${ms(wsP99 - rawP99)} (target ≤ 2 ms) ${wsP99 <= rawP99 + 2 ? 'met' : 'MISSED'}`,
    ];
    for (const l of lines) console.log(l);
  } finally {
    raw?.disconnect();
    await s?.stop();
  }
}

// bench/run.ts runs each benchmark file as its own process.
await run();
