/** Output: a table (default) or stable JSON (`--output json`); errors with their code, and exit codes. */
import { ApiError } from '@virtplane/sdk';

export type Format = 'table' | 'json';
let format: Format = 'table';
export const setFormat = (f: Format) => (format = f);
export const getFormat = () => format;
export const isJson = () => format === 'json';

/** Exit codes by error code (documented in README.md and `virtplane --help`). */
export const EXIT_CODES: [number, string, string[]][] = [
  [1, 'unexpected error', ['INTERNAL_SERVER_ERROR', 'GRAPHQL_ERROR', 'HTTP_ERROR', 'NO_RESULT']],
  [2, 'bad command line', ['USAGE']],
  [3, 'cannot reach the server, or not logged in', ['UNREACHABLE', 'NOT_LOGGED_IN', 'BAD_URL']],
  [4, 'not allowed', ['UNAUTHENTICATED', 'FORBIDDEN']],
  [5, 'not found', ['NOT_FOUND']],
  [6, 'conflict or wrong state', ['CONFLICT', 'IN_USE', 'INVALID_STATE', 'AMBIGUOUS']],
  [7, 'invalid input', ['VALIDATION', 'BAD_USER_INPUT', 'PAYLOAD_TOO_LARGE']],
  [
    8,
    'over a quota or limit',
    [
      'QUOTA_EXCEEDED',
      'LIMIT_EXCEEDED',
      'RATE_LIMITED',
      'ADDRESS_EXHAUSTED',
      'NO_HOST_AVAILABLE',
      'QUERY_TOO_DEEP',
      'TOO_MANY_ALIASES',
      'QUERY_TOO_LARGE',
      'QUERY_TOO_COSTLY',
      'TOO_MANY_DIRECTIVES',
    ],
  ],
  [9, 'libvirt or storage unavailable, or unsupported', ['LIBVIRT_ERROR', 'LIBVIRT_UNAVAILABLE', 'STORAGE_UNAVAILABLE', 'UNSUPPORTED']],
  [10, 'event cursor expired', ['CURSOR_EXPIRED']],
  [11, 'timed out waiting', ['TIMEOUT']],
];

export function exitCodeOf(code: string): number {
  for (const [exit, , codes] of EXIT_CODES) if (codes.includes(code)) return exit;
  return 1;
}

export function exitCodesHelp(): string {
  return [
    'Exit codes:',
    '  0   success',
    ...EXIT_CODES.map(([n, what, codes]) => `  ${String(n).padEnd(3)} ${what} (${codes.join(', ')})`),
  ].join('\n');
}

const out = (s: string) => process.stdout.write(s + '\n');

/** `__typename` is the SDK's business: JSON output has the data only. */
const dropTypename = (key: string, value: unknown): unknown => (key === '__typename' ? undefined : value);

export function printJson(value: unknown): void {
  out(JSON.stringify(value, dropTypename, 2));
}

/** One JSON value per line (events). */
export function printJsonLine(value: unknown): void {
  out(JSON.stringify(value, dropTypename));
}

const cell = (v: unknown): string => {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.map(cell).join(',') || '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? '-';
};

export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  out(line(columns.map((c) => c.toUpperCase())));
  for (const row of cells) out(line(row));
}

/** A record as `key: value` lines. */
export function printRecord(record: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [k, v] of Object.entries(record)) out(`${(k + ':').padEnd(width + 1)} ${cell(v)}`);
}

/** Prints a list: JSON array of the values, or a table of the columns. */
export function list<T extends object>(
  items: T[],
  columns: string[],
  row: (item: T) => Record<string, unknown> = (i) => i as Record<string, unknown>,
): void {
  if (isJson()) printJson(items);
  else printTable(items.map(row), columns);
}

/** Prints one object: as JSON, or as `key: value` lines of `view` (default: the object itself). */
export function show(value: object, view?: Record<string, unknown>): void {
  if (isJson()) printJson(value);
  else printRecord(view ?? (value as Record<string, unknown>));
}

/** A message for people (stderr on a table, nothing in JSON mode). */
export function note(message: string): void {
  if (!isJson()) process.stderr.write(message + '\n');
}

export function printError(err: unknown): number {
  const e = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', err instanceof Error ? err.message : String(err));
  if (isJson()) process.stderr.write(JSON.stringify({ error: e.toJSON() }) + '\n');
  else {
    const extra = Object.entries(e.details)
      .filter(([k]) => k !== 'path')
      .map(([k, v]) => `${k}=${cell(v)}`)
      .join(' ');
    process.stderr.write(`virtplane: ${e.code}: ${e.message}${extra ? ` (${extra})` : ''}\n`);
  }
  return exitCodeOf(e.code);
}
