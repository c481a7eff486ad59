import { LimitExceededError } from '../errors.js';
import { StreamError } from './hub.js';
import type { Viewer } from '../access/index.js';

/** Ends a subscription whose API token was revoked or expired (or its user deleted), so its client can tell why. */
export class TokenRevokedError extends StreamError {
  readonly code = 'UNAUTHENTICATED';
  constructor() {
    super('the API token of this subscription was revoked or has expired');
  }
}

/**
 * Open subscriptions per API token: caps them, and ends them all when the token stops being valid.
 * Every subscription field's source passes through `track`.
 */
export class SubscriptionRegistry {
  /** Each open subscription's `revoke`, per token. */
  private readonly byToken = new Map<string, Set<() => void>>();

  constructor(private readonly maxPerToken: number) {}

  /**
   * Throws LimitExceededError when the viewer's token already has the most subscriptions allowed. Checked
   * before a subscription's source is made (so a refused one replays nothing); `track` checks again, since
   * making the source may await and another subscription may take the last place meanwhile.
   */
  assertRoom(viewer: Viewer): void {
    if (this.count(viewer.tokenId) >= this.maxPerToken) throw this.full();
  }

  private full(): LimitExceededError {
    return new LimitExceededError(`at most ${this.maxPerToken} subscriptions may be open per API token`);
  }

  track<T>(viewer: Viewer, source: AsyncIterable<T>): AsyncIterableIterator<T> {
    const open = this.byToken.get(viewer.tokenId) ?? new Set();
    if (open.size >= this.maxPerToken) {
      void source[Symbol.asyncIterator]().return?.();
      throw this.full();
    }
    const inner = source[Symbol.asyncIterator]();
    let done = false;
    let revoked = false;
    const finish = () => {
      if (done) return;
      done = true;
      open.delete(revoke);
      if (open.size === 0) this.byToken.delete(viewer.tokenId);
    };
    // The next `next` (or the one waiting) fails once with UNAUTHENTICATED; the source is ended at once.
    const revoke = () => {
      revoked = true;
      finish();
      void inner.return?.();
    };
    const failRevoked = (): never => {
      revoked = false;
      throw new TokenRevokedError();
    };
    const wrapped: AsyncIterableIterator<T> = {
      next: async () => {
        if (revoked) failRevoked();
        if (done) return { value: undefined, done: true };
        try {
          const r = await inner.next();
          if (revoked) failRevoked();
          if (r.done) finish();
          return r;
        } catch (err) {
          finish();
          if (revoked) failRevoked();
          throw err;
        }
      },
      return: async () => {
        finish();
        await inner.return?.();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return wrapped;
      },
    };
    open.add(revoke);
    this.byToken.set(viewer.tokenId, open);
    return wrapped;
  }

  count(tokenId: string): number {
    return this.byToken.get(tokenId)?.size ?? 0;
  }

  /** Open subscriptions of every token together. */
  total(): number {
    let n = 0;
    for (const open of this.byToken.values()) n += open.size;
    return n;
  }

  /** Ends every open subscription of these tokens with UNAUTHENTICATED. */
  closeTokens(tokenIds: readonly string[]): void {
    for (const id of tokenIds) for (const revoke of [...(this.byToken.get(id) ?? [])]) revoke();
  }
}
