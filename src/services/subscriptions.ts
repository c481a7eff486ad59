import { LimitExceededError } from './errors.js';
import type { Viewer } from './viewer.js';

/**
 * Open subscriptions per API token: caps them, and ends them all when the token stops being valid.
 * Every subscription field's source passes through `track`.
 */
export class SubscriptionRegistry {
  private readonly byToken = new Map<string, Set<AsyncIterator<unknown>>>();

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
    const finish = () => {
      if (done) return;
      done = true;
      open.delete(wrapped);
      if (open.size === 0) this.byToken.delete(viewer.tokenId);
    };
    const wrapped: AsyncIterableIterator<T> = {
      next: async () => {
        if (done) return { value: undefined, done: true };
        try {
          const r = await inner.next();
          if (r.done) finish();
          return r;
        } catch (err) {
          finish();
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
    open.add(wrapped);
    this.byToken.set(viewer.tokenId, open);
    return wrapped;
  }

  count(tokenId: string): number {
    return this.byToken.get(tokenId)?.size ?? 0;
  }

  /** Ends every open subscription of these tokens. */
  closeTokens(tokenIds: readonly string[]): void {
    for (const id of tokenIds) for (const it of [...(this.byToken.get(id) ?? [])]) void it.return?.();
  }
}
