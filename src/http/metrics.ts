import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { bearerToken, isAdmin, type AuthService } from '../services/access/index.js';
import type { MonitoringService, MonitoringSnapshot } from '../services/monitoring/index.js';

const PATH = '/metrics';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** A metric per quota resource (Prometheus: one unit per metric), in base units: bytes, not MiB or GiB. */
const QUOTA_RESOURCES = [
  ['domains', 'domains', 'maxDomains', 1],
  ['vcpus', 'vcpus', 'maxVcpus', 1],
  ['memory_bytes', 'memoryMiB', 'maxMemoryMiB', MiB],
  ['disk_bytes', 'diskGiB', 'maxDiskGiB', GiB],
  ['interfaces', 'interfaces', 'maxInterfaces', 1],
  ['port_forwards', 'portForwards', 'maxPortForwards', 1],
] as const;

/**
 * Node's process metrics (CPU, memory, event-loop lag, GC) under their standard names, for the dashboards
 * made for them. Once per process: each `collectDefaultMetrics` starts an event-loop sampler and a GC
 * observer that are never stopped, so a registry per server (the tests start many) would pile them up.
 */
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * `GET /metrics` in Prometheus' text format, for an admin's token (`authorization: Bearer …` in the scrape
 * config): the server's own figures (MonitoringService) and Node's process metrics. Its own registry, so
 * several servers in one process (the tests) keep theirs apart.
 */
export class MetricsRoute {
  private readonly registry = new Registry();
  private readonly gauges;
  private readonly counters;

  constructor(
    private readonly auth: AuthService,
    private readonly monitoring: MonitoringService,
  ) {
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Gauge<L>({ name: `virtplane_${name}`, help, labelNames, registers: [this.registry] });
    this.gauges = {
      hostUp: gauge('host_up', '1 while the host’s libvirt answers (state UP or DRAINING)', ['host']),
      hostDraining: gauge('host_draining', '1 while no new guest is placed on the host', ['host']),
      hostDomains: gauge('host_domains', 'domains libvirt has on the host (running or not)', ['host']),
      hostVcpus: gauge('host_guest_vcpus', 'vCPUs of the guests on the host (and creates under way)', ['host']),
      hostMemory: gauge('host_guest_memory_bytes', 'memory of the guests on the host (and creates under way)', ['host']),
      hostCapacityVcpus: gauge('host_capacity_vcpus', 'vCPUs placement hands out on the host (absent: not limited)', ['host']),
      hostCapacityMemory: gauge('host_capacity_memory_bytes', 'memory placement hands out on the host (absent: not limited)', ['host']),
      domains: gauge('domains', 'domains by libvirt state', ['state']),
      heldEvents: gauge('events_held', 'events waiting in memory for the log to take them (the data directory failing)'),
      subscriptions: gauge('subscriptions_open', 'open GraphQL subscriptions'),
      storage: gauge('storage_writable', '1 while the data directory takes writes'),
      quotaUsed: Object.fromEntries(
        QUOTA_RESOURCES.map(([r]) => [
          r,
          gauge(`quota_used_${r}`, `${r.replace('_', ' ')} a user holds (creates under way included)`, ['user']),
        ]),
      ),
      quotaLimit: Object.fromEntries(
        QUOTA_RESOURCES.map(([r]) => [
          r,
          gauge(`quota_limit_${r}`, `a user’s quota of ${r.replace('_', ' ')} (absent: unlimited)`, ['user']),
        ]),
      ),
    };
    // Counts that only grow, set from the snapshot at each scrape.
    this.counters = {
      events: new Counter({
        name: 'virtplane_events_total',
        help: 'events appended to the log since it began',
        registers: [this.registry],
      }),
      rateLimited: new Counter({
        name: 'virtplane_rate_limited_requests_total',
        help: 'requests refused by the rate limit since the server started',
        registers: [this.registry],
      }),
    };
  }

  /** Answers `/metrics`; false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (new URL(req.url ?? '/', 'http://x').pathname !== PATH) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'GET only\n', { allow: 'GET, HEAD' });
    const viewer = this.auth.authenticate(bearerToken(req.headers.authorization));
    if (!viewer)
      return answer(res, 401, 'an admin API token is required: send "Authorization: Bearer <token>"\n', { 'www-authenticate': 'Bearer' });
    if (!isAdmin(viewer)) return answer(res, 403, 'metrics are for admins\n');
    this.fill(this.monitoring.snapshot(viewer));
    const text = (await this.registry.metrics()) + (await processMetrics().metrics());
    return answer(res, 200, text, { 'content-type': this.registry.contentType }, req.method === 'HEAD');
  }

  private fill(s: MonitoringSnapshot): void {
    const g = this.gauges;
    // Every figure is set afresh from the snapshot: a host, a state or a user gone since shows no line.
    this.registry.resetMetrics();
    this.counters.events.inc(s.events.lastCursor);
    this.counters.rateLimited.inc(s.rateLimitedRequests);
    for (const h of s.hosts) {
      const host = { host: h.name };
      g.hostUp.set(host, h.state === 'DOWN' ? 0 : 1);
      g.hostDraining.set(host, h.draining ? 1 : 0);
      if (h.use) {
        g.hostDomains.set(host, h.use.domains);
        g.hostVcpus.set(host, h.use.vcpus);
        g.hostMemory.set(host, h.use.memoryMiB * MiB);
      }
      if (h.capacity.vcpus !== null) g.hostCapacityVcpus.set(host, h.capacity.vcpus);
      if (h.capacity.memoryMiB !== null) g.hostCapacityMemory.set(host, h.capacity.memoryMiB * MiB);
    }
    for (const [state, n] of Object.entries(s.domainsByState)) g.domains.set({ state }, n);
    g.heldEvents.set(s.events.held);
    g.subscriptions.set(s.openSubscriptions);
    g.storage.set(s.storageWritable ? 1 : 0);
    for (const q of s.quotas) {
      const user = { user: q.userName };
      for (const [resource, used, limit, unit] of QUOTA_RESOURCES) {
        g.quotaUsed[resource]!.set(user, q.used[used] * unit);
        const max = q.limits[limit];
        if (max !== null) g.quotaLimit[resource]!.set(user, max * unit);
      }
    }
  }
}

function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}, head = false): true {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(head ? undefined : body);
  return true;
}
