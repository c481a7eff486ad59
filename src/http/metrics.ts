import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { bearerToken, isAdmin, type AuthService } from '../services/access/index.js';
import type { MonitoringService, MonitoringSnapshot } from '../services/monitoring/index.js';

const PATH = '/metrics';

const QUOTA_RESOURCES = [
  ['domains', 'domains', 'maxDomains'],
  ['vcpus', 'vcpus', 'maxVcpus'],
  ['memory_mib', 'memoryMiB', 'maxMemoryMiB'],
  ['disk_gib', 'diskGiB', 'maxDiskGiB'],
  ['interfaces', 'interfaces', 'maxInterfaces'],
  ['port_forwards', 'portForwards', 'maxPortForwards'],
] as const;

/**
 * `GET /metrics` in Prometheus' text format, for an admin's token (`authorization: Bearer …` in the scrape
 * config): the server's own figures (MonitoringService) and Node's process metrics. Its own registry, so
 * several servers in one process (the tests) keep theirs apart.
 */
export class MetricsRoute {
  private readonly registry = new Registry();
  private readonly gauges;

  constructor(
    private readonly auth: AuthService,
    private readonly monitoring: MonitoringService,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'virtplane_' });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Gauge<L>({ name: `virtplane_${name}`, help, labelNames, registers: [this.registry] });
    this.gauges = {
      hostUp: gauge('host_up', '1 while the host’s libvirt answers (state UP or DRAINING)', ['host']),
      hostDraining: gauge('host_draining', '1 while no new guest is placed on the host', ['host']),
      hostDomains: gauge('host_domains', 'domains libvirt has on the host (running or not)', ['host']),
      hostVcpus: gauge('host_guest_vcpus', 'vCPUs of the guests on the host (and creates under way)', ['host']),
      hostMemory: gauge('host_guest_memory_mib', 'memory of the guests on the host, MiB (and creates under way)', ['host']),
      hostCapacityVcpus: gauge('host_capacity_vcpus', 'vCPUs placement hands out on the host (absent: not limited)', ['host']),
      hostCapacityMemory: gauge('host_capacity_memory_mib', 'memory placement hands out on the host, MiB (absent: not limited)', ['host']),
      domains: gauge('domains', 'domains by libvirt state', ['state']),
      lastCursor: gauge('event_log_last_cursor', 'the newest event cursor issued (row id): grows with every event'),
      heldEvents: gauge('events_held', 'events waiting in memory for the log to take them (the data directory failing)'),
      subscriptions: gauge('subscriptions_open', 'open GraphQL subscriptions'),
      storage: gauge('storage_writable', '1 while the data directory takes writes'),
      rateLimited: gauge('rate_limited_requests', 'requests refused by the rate limit since the server started'),
      quotaUsed: gauge('quota_used', 'what a user holds (including creates under way)', ['user', 'resource']),
      quotaLimit: gauge('quota_limit', 'a user’s quota (absent: unlimited)', ['user', 'resource']),
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
    return answer(res, 200, await this.registry.metrics(), { 'content-type': this.registry.contentType }, req.method === 'HEAD');
  }

  private fill(s: MonitoringSnapshot): void {
    const g = this.gauges;
    for (const gauge of Object.values(g)) gauge.reset();
    for (const h of s.hosts) {
      const host = { host: h.name };
      g.hostUp.set(host, h.state === 'DOWN' ? 0 : 1);
      g.hostDraining.set(host, h.draining ? 1 : 0);
      if (h.use) {
        g.hostDomains.set(host, h.use.domains);
        g.hostVcpus.set(host, h.use.vcpus);
        g.hostMemory.set(host, h.use.memoryMiB);
      }
      if (h.capacity.vcpus !== null) g.hostCapacityVcpus.set(host, h.capacity.vcpus);
      if (h.capacity.memoryMiB !== null) g.hostCapacityMemory.set(host, h.capacity.memoryMiB);
    }
    for (const [state, n] of Object.entries(s.domainsByState)) g.domains.set({ state }, n);
    g.lastCursor.set(s.events.lastCursor);
    g.heldEvents.set(s.events.held);
    g.subscriptions.set(s.openSubscriptions);
    g.storage.set(s.storageWritable ? 1 : 0);
    g.rateLimited.set(s.rateLimitedRequests);
    for (const q of s.quotas) {
      for (const [resource, used, limit] of QUOTA_RESOURCES) {
        g.quotaUsed.set({ user: q.userName, resource }, q.used[used]);
        const max = q.limits[limit];
        if (max !== null) g.quotaLimit.set({ user: q.userName, resource }, max);
      }
    }
  }
}

function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}, head = false): true {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(head ? undefined : body);
  return true;
}
