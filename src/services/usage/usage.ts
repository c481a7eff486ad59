import type { UsageStore } from '../../db/stores/usage.js';
import type { DomainRecord, UsageSummary } from '../../model/index.js';
import type { UserService, Viewer } from '../access/index.js';
import { ValidationError } from '../errors.js';
import { metered } from './meter.js';

/** The longest range one question may cover: a year, leap day included. */
export const MAX_USAGE_RANGE_MS = 366 * 24 * 3_600_000;
const DAY_MS = 24 * 3_600_000;

export interface UsageRetention {
  /** Periods that ended longer ago than this are deleted (0: kept for ever). */
  retentionDays: number;
}

/**
 * Metering: what each user's domains used over time (running hours, vCPU-, memory- and disk-hours), for
 * billing and for tenants to see. The periods it reads are written beside the domains' events and ownership
 * changes (db/stores/usage.ts, meter.ts); this answers questions about them and keeps their retention.
 */
export class UsageService {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: UsageStore,
    private readonly users: UserService,
    private readonly retention: UsageRetention,
    private readonly warn: (msg: string, err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * What `userId`'s domains used within [from, to), counted up to now, domains by name. Admins may ask of any
   * user, a tenant of itself (anyone else is NOT_FOUND, as a missing user).
   */
  of(viewer: Viewer, userId: string, from: Date, to: Date): UsageSummary {
    this.users.get(viewer, userId);
    const [f, t] = [from.getTime(), to.getTime()];
    if (!Number.isFinite(f) || !Number.isFinite(t) || f >= t) throw new ValidationError('"from" must be before "to"', 'from');
    if (t - f > MAX_USAGE_RANGE_MS) throw new ValidationError('a usage range may span at most 366 days', 'to');
    const domains = this.store
      .summary(userId, f, t, this.now())
      .sort((a, b) =>
        a.name < b.name
          ? -1
          : a.name > b.name
            ? 1
            : a.domainUuid < b.domainUuid
              ? -1
              : a.domainUuid > b.domainUuid
                ? 1
                : a.hostId - b.hostId,
      );
    return { userId, from, to, domains };
  }

  /**
   * Meters a domain as it is now, for a change no event carries (a grown disk). A failure (a full disk) is
   * logged: the domain's next event meters it.
   */
  meter(hostId: number, domain: DomainRecord, ownerId: string | null): void {
    try {
      this.store.recordAlone(metered(hostId, domain, ownerId), this.now());
    } catch (err) {
      this.warn('metering a resized domain failed', err);
    }
  }

  /** Deletes what is past its retention now and once a day from now on. */
  start(): void {
    this.prune();
    this.timer = setInterval(() => this.prune(), DAY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Answers how many periods went; a failure (a full disk) is logged and the next day tries again. */
  prune(): number {
    if (this.retention.retentionDays <= 0) return 0;
    try {
      return this.store.prune(this.now() - this.retention.retentionDays * DAY_MS);
    } catch (err) {
      this.warn('pruning usage periods failed', err);
      return 0;
    }
  }
}
