import { useEffect, useState } from 'preact/hooks';
import { ViewerUsage } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import type { Api } from './api.js';
import { useQuietRead } from './hooks.js';

type Metered = NonNullable<ResultOf<typeof ViewerUsage>['viewer']>['usage'];

/** The figures grow while machines run: read again this often, and after changes (as the quota is). */
const REFRESH_MS = 60_000;
/** Machines listed at most; the totals cover all of them. */
const SHOWN = 50;

/** Two significant digits below 10 (a few minutes of a small machine is 0.0056), whole numbers above. */
export function amount(n: number): string {
  if (n === 0) return '0';
  return n < 10 ? String(Number(n.toPrecision(2))) : n.toFixed(0);
}

export function monthSoFar(now = new Date()): { from: string; to: string } {
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return { from: from.toISOString(), to: to.toISOString() };
}

const COLUMNS: [label: string, key: 'runningHours' | 'vcpuHours' | 'memoryGiBHours' | 'diskGiBHours'][] = [
  ['Hours running', 'runningHours'],
  ['vCPU-hours', 'vcpuHours'],
  ['Memory GiB-hours', 'memoryGiBHours'],
  ['Disk GiB-hours', 'diskGiBHours'],
];

/** What the viewer's machines used this month (UTC) so far, deleted ones included: what a bill is made of. */
export function Metering(props: { api: Api; changes: number; onError(err: unknown): void }) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const every = setInterval(() => setTick((t) => t + 1), REFRESH_MS);
    return () => clearInterval(every);
  }, []);
  const usage = useQuietRead(
    async (): Promise<Metered | null> => (await props.api.request(ViewerUsage, { ...monthSoFar(), first: SHOWN })).viewer?.usage ?? null,
    (err) => props.onError(err),
    [props.api, props.changes, tick],
  );
  if (!usage || usage.domains.totalCount === 0) return null;
  const more = usage.domains.totalCount - usage.domains.edges.length;
  return (
    <section id="metering" aria-labelledby="metering-title">
      <h2 id="metering-title">What your machines used this month (UTC), so far</h2>
      <table>
        <thead>
          <tr>
            <th>Machine</th>
            {COLUMNS.map(([label]) => (
              <th key={label}>{label}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {usage.domains.edges.map(({ node: d }) => (
            <tr key={d.domainId} data-name={d.name} data-vcpu-hours={d.vcpuHours}>
              <td>
                {d.name}
                {/* Deleted (or handed on): two rows of one name are then told apart. */}
                {d.domain === null && <span class="gone"> (gone)</span>}
              </td>
              {COLUMNS.map(([label, key]) => (
                <td key={label}>{amount(d[key])}</td>
              ))}
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr class="total">
            <td>{more > 0 ? `All (${more} more not listed)` : 'All'}</td>
            {COLUMNS.map(([label, key]) => (
              <td key={label}>{amount(usage[key])}</td>
            ))}
          </tr>
        </tfoot>
      </table>
    </section>
  );
}
