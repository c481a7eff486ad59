/**
 * Relay connections over an already sorted list. Cursors encode the item's sort key (not an offset), so
 * a page stays put when items appear or vanish before it.
 */
export interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: number;
}

const MAX_PAGE = 1000;

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key inside a cursor, or null when it is not one of ours. */
export function decodeCursor(cursor: string): string[] | null {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(key) && key.every((k) => typeof k === 'string') ? key : null;
  } catch {
    return null;
  }
}

/** The order of connection keys (what `connectionFromSorted` expects its items in). */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Index of the first item whose key is greater than (or, with inclusive, not less than) `key`. */
function lowerBound<T>(items: readonly T[], keyOf: (t: T) => readonly string[], key: readonly string[], inclusive: boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(keyOf(items[mid]!), key);
    if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class InvalidPageArgsError extends Error {}

/**
 * For connections whose source reads one way only (a log read from a row id onwards): `last` and `before`
 * are refused rather than ignored, so a client never takes a forward page for the one it asked for.
 */
export function refuseBackwardPaging(field: string, args: ConnectionArgs): void {
  if (args.last != null || args.before != null) throw new InvalidPageArgsError(`${field} pages forward only: use first/after`);
}

/** A forward page size: `first` (default `fallback`), refused outside 0..MAX_PAGE. */
export function pageSize(first: number | null | undefined, fallback: number): number {
  const n = first ?? fallback;
  if (!Number.isInteger(n) || n < 0 || n > MAX_PAGE) throw new InvalidPageArgsError(`first must be between 0 and ${MAX_PAGE}`);
  return n;
}

/** The sort key of an `after`/`before` cursor (null when absent); INVALID_PAGE_ARGS when it is not a cursor. */
export function cursorKey(cursor: string | null | undefined, arg: 'after' | 'before' = 'after'): string[] | null {
  if (!cursor) return null;
  const key = decodeCursor(cursor);
  if (!key) throw new InvalidPageArgsError(`invalid cursor in "${arg}"`);
  return key;
}

export function connectionFromSorted<T>(items: readonly T[], args: ConnectionArgs, keyOf: (t: T) => readonly string[]): Connection<T> {
  for (const n of [args.first, args.last]) {
    if (n !== null && n !== undefined && (n < 0 || n > MAX_PAGE))
      throw new InvalidPageArgsError(`first and last must be between 0 and ${MAX_PAGE}`);
  }
  let start = 0;
  let end = items.length;
  if (args.after) {
    const key = decodeCursor(args.after);
    if (!key) throw new InvalidPageArgsError('invalid cursor in "after"');
    start = lowerBound(items, keyOf, key, false);
  }
  if (args.before) {
    const key = decodeCursor(args.before);
    if (!key) throw new InvalidPageArgsError('invalid cursor in "before"');
    end = Math.max(start, lowerBound(items, keyOf, key, true));
  }
  const first = args.first ?? (args.last == null ? 100 : null);
  if (first != null) end = Math.min(end, start + first);
  if (args.last != null) start = Math.max(start, end - args.last);
  const edges = [];
  for (let i = start; i < end; i++) edges.push({ cursor: encodeCursor(keyOf(items[i]!)), node: items[i]! });
  return {
    edges,
    pageInfo: {
      hasNextPage: end < items.length,
      hasPreviousPage: start > 0,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount: items.length,
  };
}

/**
 * The options of a connection type whose resolver returns its `totalCount` (as `connectionFromSorted` does):
 * its name, and that field.
 */
export function countedConnection(name: string) {
  return {
    name,
    fields: <Ref>(c: { int: (options: { resolve: (connection: object) => number }) => Ref }) => ({
      totalCount: c.int({ resolve: (connection) => (connection as Connection<unknown>).totalCount }),
    }),
  };
}
