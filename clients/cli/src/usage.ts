/** `virtplane usage [user]`: metering, what a user's domains used over a range (this month by default). */
import { Command, type CommandUnknownOpts, InvalidArgumentError } from '@commander-js/extra-typings';
import { ApiError, UsersOverview, UserUsage, Viewer, ViewerUsage } from '@virtplane/sdk';
import { connect } from './config.js';
import { isJson, note, printJson, printTable } from './output.js';
import { collect, userId } from './resolve.js';
import { action } from './run.js';

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * A day (`2026-11-01`, its midnight UTC) or an RFC 3339 date-time with its zone (`2026-11-01T08:00:00+01:00`):
 * nothing read in the local time zone, and no impossible date (2026-02-30) rolled over into another.
 */
export function date(value: string): Date {
  const day = DAY.exec(value) ?? DATE_TIME.exec(value);
  if (!day) throw new InvalidArgumentError('not a day (YYYY-MM-DD) nor a date-time with its zone (RFC 3339)');
  const d = new Date(DAY.test(value) ? `${value}T00:00:00Z` : value);
  const [, y, m, dd] = day.map(Number);
  const calendar = new Date(Date.UTC(y!, m! - 1, dd));
  if (Number.isNaN(d.getTime()) || calendar.getUTCMonth() !== m! - 1 || calendar.getUTCDate() !== dd!)
    throw new InvalidArgumentError('no such date');
  return d;
}

/**
 * The range asked for: by default this month so far (UTC); `to` alone ends the month it falls in (from that
 * month's first day); `from` alone runs up to now.
 */
export function usageRange(from: Date | undefined, to: Date | undefined, now = new Date()): { from: Date; to: Date } {
  const end = to ?? now;
  const last = new Date(end.getTime() - 1);
  return { from: from ?? new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth(), 1)), to: end };
}

const fixed = (n: number) => n.toFixed(2);

type Range = { from: string; to: string };
type Figures = { runningHours: number; vcpuHours: number; memoryGiBHours: number; diskGiBHours: number };
const COLUMNS = ['running h', 'vcpu h', 'memory GiB h', 'disk GiB h'];
const figures = (u: Figures) => ({
  'running h': fixed(u.runningHours),
  'vcpu h': fixed(u.vcpuHours),
  'memory GiB h': fixed(u.memoryGiBHours),
  'disk GiB h': fixed(u.diskGiBHours),
});

export function usageCommand(): CommandUnknownOpts {
  return new Command('usage')
    .description('What your domains (or, for admins, a user’s) used: hours running, vCPU-, memory- and disk-hours; deleted domains too')
    .argument('[user]', 'name or ID (admins)')
    .option(
      '--from <date>',
      'start of the range, YYYY-MM-DD (UTC) or RFC 3339 (default: the first day of the month that ends at --to, or of this month)',
      date,
    )
    .option('--to <date>', 'end of the range, not included (default: now)', date)
    .option('--all', 'admins: every user’s totals, one line each')
    .action(
      action(async (ref, o) => {
        const asked = usageRange(o.from, o.to);
        const range = { from: asked.from.toISOString(), to: asked.to.toISOString() };
        if (o.all && ref) throw new ApiError('BAD_USER_INPUT', '--all takes no user');
        return o.all ? everyone(range) : ofOne(ref, range);
      }),
    );
}

/** One user's domains (the viewer's without `ref`), each with its figures, and the total. */
async function ofOne(ref: string | undefined, range: Range): Promise<void> {
  const vp = connect();
  // Anyone may name themselves (tenants cannot list users to look a name up).
  const self = ref ? (await vp.request(Viewer)).viewer : null;
  const id = ref && ref !== self?.name && ref !== self?.id ? await userId(vp, ref) : null;
  const read = async (after: string | null) => {
    if (id === null) return (await vp.request(ViewerUsage, { ...range, first: 100, after })).viewer?.usage;
    const { node } = await vp.request(UserUsage, { id, ...range, first: 100, after });
    if (!node || node.__typename !== 'User') throw new ApiError('NOT_FOUND', `no user ${ref}`);
    return node.usage;
  };
  const first = await read(null);
  if (!first) throw new ApiError('NOT_FOUND', 'no usage for this range');
  const domains = first.domains.edges.map((e) => e.node);
  for (let page = first.domains.pageInfo; page.hasNextPage && page.endCursor;) {
    const next = await read(page.endCursor);
    if (!next) break;
    domains.push(...next.domains.edges.map((e) => e.node));
    page = next.domains.pageInfo;
  }
  const { domains: _paged, ...totals } = first;
  if (isJson()) return printJson({ ...totals, domains });
  note(`${range.from} – ${range.to} (counted up to now; "(gone)": deleted, or no longer yours)`);
  printTable(
    [...domains.map((d) => ({ domain: d.domain ? d.name : `${d.name} (gone)`, ...figures(d) })), { domain: 'total', ...figures(totals) }],
    ['domain', ...COLUMNS],
  );
}

/** Admins: every user's totals (a bill's lines). */
async function everyone(range: Range): Promise<void> {
  const vp = connect();
  const users = await collect(async (after, first) => (await vp.request(UsersOverview, { ...range, first, after })).users);
  const lines = users.map((u) => ({ user: u.name, role: u.role, usage: u.usage }));
  if (isJson()) return printJson(lines);
  note(`${range.from} – ${range.to} (counted up to now)`);
  printTable(
    lines.map((l) => ({ user: l.user, role: l.role.toLowerCase(), ...(l.usage ? figures(l.usage) : {}) })),
    ['user', 'role', ...COLUMNS],
  );
}
