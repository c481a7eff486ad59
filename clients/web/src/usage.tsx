import { ViewerQuota } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import type { Api } from './api.js';
import { useQuietRead } from './hooks.js';

type Quota = NonNullable<ResultOf<typeof ViewerQuota>['viewer']>['quota'];

const ROWS: [label: string, used: keyof Quota['usage'], limit: keyof Quota['limits'], unit: string][] = [
  ['Machines', 'domains', 'maxDomains', ''],
  ['vCPUs', 'vcpus', 'maxVcpus', ''],
  ['Memory', 'memoryMiB', 'maxMemoryMiB', ' MiB'],
  ['Disk', 'diskGiB', 'maxDiskGiB', ' GiB'],
  ['Port forwards', 'portForwards', 'maxPortForwards', ''],
];

/** The viewer's quota: what its machines hold against each limit; read again whenever `changes` moves. */
export function Usage(props: { api: Api; changes: number; onError(err: unknown): void }) {
  const quota = useQuietRead(
    async (): Promise<Quota | null> => (await props.api.request(ViewerQuota)).viewer?.quota ?? null,
    (err) => props.onError(err),
    [props.api, props.changes],
  );
  if (!quota) return null;
  return (
    <section id="usage" aria-labelledby="usage-title">
      <h2 id="usage-title">Your quota</h2>
      <dl>
        {ROWS.map(([label, used, limit, unit]) => (
          <div key={label} data-resource={used}>
            <dt>{label}</dt>
            <dd>
              {quota.usage[used]}
              {quota.limits[limit] === null ? unit : ` of ${quota.limits[limit]}${unit}`}
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
