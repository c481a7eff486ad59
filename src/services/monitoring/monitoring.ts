import { DOMAIN_STATES, type DomainRecord, type DomainState } from '../../model/index.js';
import type { QuotaLimits, QuotaService, QuotaUsage, RateLimits, UserService, Viewer } from '../access/index.js';
import type { SubscriptionRegistry } from '../events/index.js';
import type { Host, HostRegistry, HostUse } from '../hosts/index.js';
import type { StorageHealth } from '../instance/index.js';

/** What an operator's monitoring reads, at one moment: the server's own state, in plain figures. */
export interface MonitoringSnapshot {
  hosts: (Host & { use: HostUse | null })[];
  domainsByState: Record<DomainState, number>;
  /** The newest event cursor issued, and events waiting in memory for the log (a full disk). */
  events: { lastCursor: number; held: number };
  openSubscriptions: number;
  storageWritable: boolean;
  rateLimitedRequests: number;
  /** Every user's quota: what it holds and its limits (null: unlimited). */
  quotas: { userName: string; used: QuotaUsage; limits: QuotaLimits }[];
}

/** The parts of the event stream monitoring reads (services/events, built in main.ts). */
export interface EventFigures {
  lastCursor(): number;
  held(): number;
}

/**
 * The figures behind `/metrics` (http/metrics.ts formats them for Prometheus). Admins only: they name every
 * user and count every tenant's guests.
 */
export class MonitoringService {
  constructor(
    private readonly parts: {
      hosts: HostRegistry;
      domains: { list(viewer: Viewer): readonly DomainRecord[] };
      users: UserService;
      quotas: QuotaService;
      events: EventFigures;
      subscriptions: SubscriptionRegistry;
      storage: StorageHealth;
      rateLimits: RateLimits;
    },
  ) {}

  snapshot(viewer: Viewer): MonitoringSnapshot {
    const p = this.parts;
    const domainsByState = Object.fromEntries(DOMAIN_STATES.map((s) => [s, 0])) as Record<DomainState, number>;
    for (const d of p.domains.list(viewer)) domainsByState[d.state]++;
    return {
      hosts: p.hosts.list(viewer).map((h) => ({ ...h, use: p.hosts.useOf(viewer, h.id) })),
      domainsByState,
      events: { lastCursor: p.events.lastCursor(), held: p.events.held() },
      openSubscriptions: p.subscriptions.total(),
      storageWritable: p.storage.reason() === null,
      rateLimitedRequests: p.rateLimits.refused,
      quotas: p.users.list(viewer).map((u) => ({ userName: u.name, used: p.quotas.usage(u.id), limits: p.quotas.limits(u.id) })),
    };
  }
}
