/**
 * Event delivery with 1,000 graphql-ws subscribers on one server (loopback). The server runs in its own
 * process; this process drives libvirt directly over the bus, watches the raw libvirt signals (the reference
 * latency, measured in the same run) and runs all the subscribers.
 *   steady: 200 lifecycle events at 20/s — latency from the libvirt signal to the LAST subscriber, p50/p99
 *   burst:  1,000 events as fast as libvirt emits them — all delivered to every subscriber, in order, once?
 *           frames/s and time until the last one arrives
 *   memory: server RSS growth per idle subscriber
 * Prints figures; asserts nothing about speed.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { LibvirtBus } from '../src/libvirt/bus.js';
import { BENCH_TOKEN, cpuSecondsOf, startServerProcess } from './lib/server-process.js';

const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 1000);
const STEADY = 200;
const STEADY_RATE = 20;
const BURST = 1000;
const DRIVER = '/org/libvirt/Test';
const QUERY = 'subscription { domainEvents { cursor type state synthetic domain { name state } } }';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (x: number) => `${x.toFixed(2)} ms`;
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

const info = await startServerProcess(BENCH_TOKEN, { BENCH_KEEP_EVENTS: '1' });
const wsUrl = info.url.replace(/^http/, 'ws');

// The raw reference: this process's own bus connection sees libvirt's signals.
const bus = await LibvirtBus.connect({ kind: 'address', address: info.bus });
await bus.subscribeDriver(DRIVER);
const [domainPath] = (await bus.call(DRIVER, 'org.libvirt.Connect', 'DomainLookupByName', 's', ['test'])) as [string];
let signalTimes: number[] = [];
bus.on('signal', (s: { member: string }) => {
  if (s.member === 'DomainEvent') signalTimes.push(performance.now());
});
let paused = false;
/** One lifecycle event: suspend or resume the test domain; returns when libvirt has replied. */
const flip = async () => {
  await bus.call(domainPath, 'org.libvirt.Domain', paused ? 'Resume' : 'Suspend');
  paused = !paused;
};

// Memory before subscribers.
const gcAndRss = async () => {
  process.kill(info.pid, 'SIGUSR2');
  await sleep(500);
  return rssKiB(info.pid);
};
const rssBefore = await gcAndRss();

// Subscribers: each records arrival time and cursor of every event, per phase.
interface Sub {
  client: Client;
  times: number[];
  seqs: number[];
}
const subs: Sub[] = [];
const seqOf = (cursor: string) => Number(Buffer.from(cursor, 'base64url').toString().split(':')[1]);
for (let i = 0; i < SUBSCRIBERS; i += 100) {
  await Promise.all(
    Array.from({ length: Math.min(100, SUBSCRIBERS - i) }, async () => {
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${BENCH_TOKEN}` },
      });
      const sub: Sub = { client, times: [], seqs: [] };
      client.subscribe<{ domainEvents: { cursor: string } }>(
        { query: QUERY },
        {
          next: (v) => {
            sub.times.push(performance.now());
            sub.seqs.push(seqOf(v.data!.domainEvents.cursor));
          },
          error: (e) => console.error('subscriber error', e),
          complete: () => {},
        },
      );
      await new Promise<void>((resolve, reject) =>
        client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
      );
      subs.push(sub);
    }),
  );
}
await sleep(1000);
const rssAfter = await gcAndRss();

const reset = () => {
  signalTimes = [];
  for (const s of subs) {
    s.times = [];
    s.seqs = [];
  }
};
const waitAll = async (n: number, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (subs.some((s) => s.seqs.length < n)) {
    if (Date.now() > deadline) break;
    await sleep(20);
  }
};

// Warm-up (JIT, caches), not measured.
reset();
for (let i = 0; i < 20; i++) await flip();
await waitAll(20, 10_000);

// Steady: 200 events at 20/s.
reset();
const steadyCpu0 = { server: cpuSecondsOf(info.pid), clients: process.cpuUsage() };
const rawLatency: number[] = [];
for (let i = 0; i < STEADY; i++) {
  const t0 = performance.now();
  const before = signalTimes.length;
  await flip();
  while (signalTimes.length === before) await sleep(0);
  rawLatency.push(signalTimes[before]! - t0);
  const next = t0 + 1000 / STEADY_RATE;
  await sleep(Math.max(0, next - performance.now()));
}
await waitAll(STEADY, 30_000);
const steadyCpu = { server: cpuSecondsOf(info.pid) - steadyCpu0.server, clients: process.cpuUsage(steadyCpu0.clients) };
const lastArrival = (k: number) => Math.max(...subs.map((s) => s.times[k] ?? Infinity));
const firstArrival = (k: number) => Math.min(...subs.map((s) => s.times[k] ?? Infinity));
const steadyLast = Array.from({ length: STEADY }, (_, k) => lastArrival(k) - signalTimes[k]!);
const steadyFirst = Array.from({ length: STEADY }, (_, k) => firstArrival(k) - signalTimes[k]!);
const steadyComplete = subs.every((s) => s.seqs.length === STEADY);

// Burst: 1,000 events as fast as libvirt emits them.
reset();
const cpu0 = { server: cpuSecondsOf(info.pid), clients: process.cpuUsage() };
const burstStart = performance.now();
for (let i = 0; i < BURST; i++) await flip();
const libvirtDone = performance.now();
await waitAll(BURST, 120_000);
const cpu1 = { server: cpuSecondsOf(info.pid), clients: process.cpuUsage(cpu0.clients) };
const burstEnd = Math.max(...subs.map((s) => s.times.at(-1) ?? Infinity));
const reference = subs[0]!.seqs;
const inOrderOnce = (xs: number[]) => xs.length === BURST && xs.every((x, i) => i === 0 || x > xs[i - 1]!);
const burstOk = inOrderOnce(reference) && subs.every((s) => s.seqs.length === BURST && s.seqs.every((x, i) => x === reference[i]));

console.log(`subscribers: ${subs.length} graphql-ws connections on one server (loopback; server in its own process)`);
console.log(
  `memory: server RSS ${(rssBefore / 1024).toFixed(1)} MiB → ${(rssAfter / 1024).toFixed(1)} MiB = ${(((rssAfter - rssBefore) * 1024) / subs.length / 1024).toFixed(1)} KiB per idle subscriber (target ≤ 50 KB)`,
);
console.log(`steady: ${STEADY} events at ${STEADY_RATE}/s, all delivered to all: ${steadyComplete}`);
console.log(
  `  raw libvirt signal latency (call → signal on a bus connection): p50 ${ms(pct(rawLatency, 50))}  p99 ${ms(pct(rawLatency, 99))}`,
);
console.log(`  signal → FIRST subscriber:  p50 ${ms(pct(steadyFirst, 50))}  p99 ${ms(pct(steadyFirst, 99))}`);
console.log(`  signal → LAST subscriber:   p50 ${ms(pct(steadyLast, 50))}  p99 ${ms(pct(steadyLast, 99))}  (target p99 ≤ 50 ms)`);
console.log(
  `  CPU per event: server ${((steadyCpu.server * 1000) / STEADY).toFixed(1)} ms, subscribers' process ${((steadyCpu.clients.user + steadyCpu.clients.system) / 1000 / STEADY).toFixed(1)} ms`,
);
console.log(
  `burst: ${BURST} events; libvirt emitted them in ${ms(libvirtDone - burstStart)} (${((BURST * 1000) / (libvirtDone - burstStart)).toFixed(0)} events/s)`,
);
console.log(`  every subscriber got all, in order, once: ${burstOk}`);
console.log(
  `  last frame at ${ms(burstEnd - burstStart)} after the first call; ${((subs.length * BURST * 1000) / (burstEnd - burstStart)).toFixed(0)} frames/s delivered`,
);
console.log(
  `  CPU during the burst: server ${(cpu1.server - cpu0.server).toFixed(1)} s, subscribers' process ${((cpu1.clients.user + cpu1.clients.system) / 1e6).toFixed(1)} s`,
);
console.log('  (the subscribers run in this one process: its JSON parsing of every frame competes for the second core)');

await Promise.all(subs.map((s) => Promise.resolve(s.client.dispose())));
bus.disconnect();
await info.stop();
