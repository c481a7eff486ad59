/** `virtplane usage [user]`: metering, what a user's domains used over a range (this month by default). */
import { Command, type CommandUnknownOpts, InvalidArgumentError } from '@commander-js/extra-typings';
import { ApiError, UserUsage, ViewerUsage } from '@virtplane/sdk';
import { connect } from './config.js';
import { isJson, note, printJson, printTable } from './output.js';
import { userId } from './resolve.js';
import { action } from './run.js';

/** A date (`2026-11-01`, taken as UTC midnight) or an RFC 3339 date-time. */
export function date(value: string): Date {
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('not a date (YYYY-MM-DD) or date-time (RFC 3339)');
  return d;
}

/** This calendar month in UTC: from its first day to the first of the next. */
export function thisMonth(now = new Date()): { from: Date; to: Date } {
  return {
    from: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)),
    to: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)),
  };
}

const fixed = (n: number) => n.toFixed(2);

export function usageCommand(): CommandUnknownOpts {
  return new Command('usage')
    .description('What your domains (or, for admins, a user’s) used: hours running, vCPU-, memory- and disk-hours; deleted domains too')
    .argument('[user]', 'name or ID (admins)')
    .option('--from <date>', 'start of the range (default: the first of this month, UTC)', date)
    .option('--to <date>', 'end of the range, not included (default: the first of next month; counted up to now)', date)
    .action(
      action(async (ref, o) => {
        const vp = connect();
        const month = thisMonth();
        const range = { from: (o.from ?? month.from).toISOString(), to: (o.to ?? month.to).toISOString() };
        const id = ref ? await userId(vp, ref) : null;
        const read = async (after: string | null) => {
          if (id === null) return (await vp.request(ViewerUsage, { ...range, first: 100, after })).viewer?.usage;
          const { node } = await vp.request(UserUsage, { id, ...range, first: 100, after });
          if (!node || node.__typename !== 'User') throw new ApiError('NOT_FOUND', `no user ${ref}`);
          return node.usage;
        };
        const first = await read(null);
        if (!first) throw new ApiError('NOT_FOUND', 'no viewer');
        const domains = first.domains.edges.map((e) => e.node);
        for (let page = first.domains.pageInfo; page.hasNextPage && page.endCursor;) {
          const next = await read(page.endCursor);
          if (!next) break;
          domains.push(...next.domains.edges.map((e) => e.node));
          page = next.domains.pageInfo;
        }
        const { domains: _paged, ...totals } = first;
        if (isJson()) return printJson({ ...totals, domains });
        note(`${range.from} – ${range.to} (counted up to now)`);
        const row = (name: string, u: { runningHours: number; vcpuHours: number; memoryGiBHours: number; diskGiBHours: number }) => ({
          domain: name,
          'running h': fixed(u.runningHours),
          'vcpu h': fixed(u.vcpuHours),
          'memory GiB h': fixed(u.memoryGiBHours),
          'disk GiB h': fixed(u.diskGiBHours),
        });
        printTable(
          [...domains.map((d) => row(d.name, d)), row('total', totals)],
          ['domain', 'running h', 'vcpu h', 'memory GiB h', 'disk GiB h'],
        );
      }),
    );
}
