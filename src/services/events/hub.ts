/**
 * In-process fan-out of committed events to live subscribers. Each subscriber has its own bounded queue:
 * one that falls too far behind is ended with SlowSubscriberError instead of slowing anyone else.
 */
/** A failure that ends one event stream; `code` becomes the GraphQL error's extensions.code. */
export abstract class StreamError extends Error {
  abstract readonly code: string;
}

export class SlowSubscriberError extends StreamError {
  readonly code = 'SLOW_SUBSCRIBER';
  constructor(readonly limit: number) {
    super(`subscriber fell more than ${limit} events behind and was disconnected; resume from the last cursor received`);
  }
}

/** A cursor the log no longer (or never) held: the client must re-list and subscribe afresh (cf. HTTP 410). */
export class CursorExpiredError extends StreamError {
  readonly code = 'CURSOR_EXPIRED';
  constructor(message = 'this cursor is older than the event log retains; re-list the current state and subscribe again without it') {
    super(message);
  }
}

export const DEFAULT_BUFFER_LIMIT = 1_000;

export class Subscriber<E> implements AsyncIterableIterator<E> {
  private readonly queue: E[] = [];
  private waiter: { resolve: (r: IteratorResult<E>) => void; reject: (e: unknown) => void } | null = null;
  private done = false;
  private failure: Error | null = null;

  constructor(
    private readonly accept: (e: E) => boolean,
    private readonly limit: number,
    private readonly detach: (s: Subscriber<E>) => void,
  ) {}

  push(event: E): void {
    if (this.done || !this.accept(event)) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: event, done: false });
      return;
    }
    if (this.queue.length >= this.limit) {
      this.fail(new SlowSubscriberError(this.limit));
      return;
    }
    this.queue.push(event);
  }

  fail(err: Error): void {
    if (this.done) return;
    this.failure = err;
    this.queue.length = 0;
    this.finish();
  }

  private finish(): void {
    this.done = true;
    this.detach(this);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      if (this.failure) w.reject(this.failure);
      else w.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<E>> {
    const value = this.queue.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.failure) {
      const f = this.failure;
      this.failure = null;
      return Promise.reject(f);
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<E>> {
    this.queue.length = 0;
    this.failure = null;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export class EventHub<E> {
  private readonly subscribers = new Set<Subscriber<E>>();

  /** `bufferLimit`: events one subscriber may lag behind before it is disconnected. */
  constructor(private readonly bufferLimit = DEFAULT_BUFFER_LIMIT) {}

  publish(event: E): void {
    for (const s of this.subscribers) s.push(event);
  }

  subscribe(accept: (e: E) => boolean, opts: { bufferLimit?: number } = {}): Subscriber<E> {
    const sub = new Subscriber<E>(accept, opts.bufferLimit ?? this.bufferLimit, (s) => this.subscribers.delete(s));
    this.subscribers.add(sub);
    return sub;
  }

  get size(): number {
    return this.subscribers.size;
  }
}
