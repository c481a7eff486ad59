import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { isAdmin, type Viewer } from './viewer.js';

/** What the limit says of one request: let through or not, and what is left of the caller's minute. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Whole seconds until the caller's window starts afresh (what Retry-After and RateLimit-Reset say). */
  resetSeconds: number;
  /** What a refused caller is told, in every transport alike. */
  refusal: string;
}

const WINDOW_S = 60;

/**
 * Requests per tenant per minute (HTTP requests with a token, and each operation over a WebSocket), so one
 * tenant's runaway script cannot starve the others. Counted per user, not per token: more tokens give no more
 * room. Admins are not limited (they operate the server), nor is anyone when the limit is 0. In memory, per
 * server: several API replicas would share a store (rate-limiter-flexible has them) — see "Several hosts".
 */
export class RateLimits {
  private readonly limiter: RateLimiterMemory | null;
  /** Requests refused since the start (monitoring). */
  refused = 0;

  constructor(readonly perMinute: number) {
    this.limiter = perMinute > 0 ? new RateLimiterMemory({ points: perMinute, duration: WINDOW_S }) : null;
  }

  /** Takes one request from the viewer's minute; null when the viewer is not limited. */
  async take(viewer: Viewer): Promise<RateDecision | null> {
    if (!this.limiter || isAdmin(viewer)) return null;
    try {
      return RateLimits.decision(true, this.perMinute, await this.limiter.consume(viewer.userId));
    } catch (res) {
      if (res instanceof RateLimiterRes) {
        this.refused++;
        return RateLimits.decision(false, this.perMinute, res);
      }
      throw res;
    }
  }

  private static decision(allowed: boolean, limit: number, res: RateLimiterRes): RateDecision {
    const resetSeconds = Math.ceil(Math.max(0, res.msBeforeNext) / 1000);
    return {
      allowed,
      limit,
      remaining: Math.max(0, res.remainingPoints),
      resetSeconds,
      refusal: `more than ${limit} requests in a minute: try again in ${resetSeconds} s`,
    };
  }
}
