import { useEffect, useState } from 'preact/hooks';
import { Hosts as HostsQuery, SetHostDraining } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import { type Api, Unauthenticated } from './api.js';
import { useAttempt, useQuietRead } from './hooks.js';
import { Failure } from './parts.js';

type Host = NonNullable<ResultOf<typeof HostsQuery>['hosts']>['edges'][number]['node'];

/** Hosts listed at most (the API pages them by name). */
const SHOWN = 100;

const limited = (value: number | null, unit: string) => (value === null ? 'not limited' : `${value} ${unit}`);

/**
 * Admins: the hosts guests are placed on — state, capacity, what their guests hold — and draining, live: a
 * host's change of state (libvirt lost or back, draining set or cleared, by anyone) reads the list again.
 */
export function Hosts(props: { api: Api; onError(err: unknown): void }) {
  const [changes, setChanges] = useState(0);
  const [live, setLive] = useState(false);
  const [problem, setProblem] = useState('');
  useEffect(
    () =>
      props.api.followHostEvents({
        event: () => setChanges((n) => n + 1),
        live: () => {
          setLive(true);
          setChanges((n) => n + 1);
        },
        away: () => setLive(false),
        refused: () => props.onError(new Unauthenticated('refused')),
      }),
    [props.api],
  );
  const hosts = useQuietRead(
    async () => {
      const r = await props.api.request(HostsQuery, { first: SHOWN });
      setProblem('');
      return r.hosts;
    },
    (err) => {
      props.onError(err);
      setProblem(`The hosts could not be read: ${(err as Error).message}`);
    },
    [props.api, changes],
  );

  const failure = problem && (
    <Failure
      problem={problem}
      onRetry={() => {
        setProblem('');
        setChanges((n) => n + 1);
      }}
    />
  );
  if (hosts === null) return failure || <p>Loading…</p>;
  return (
    <section id="hosts" aria-labelledby="hosts-title" class={live ? 'live' : undefined}>
      <h2 id="hosts-title">Hosts</h2>
      {failure}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>State</th>
            <th>CPUs</th>
            <th>Memory</th>
            <th>Capacity</th>
            <th>Machines (running)</th>
            <th>vCPUs held</th>
            <th>Memory held</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {hosts.edges.map(({ node: h }) => (
            <HostRow key={h.id} api={props.api} host={h} onChanged={() => setChanges((n) => n + 1)} onError={(err) => props.onError(err)} />
          ))}
        </tbody>
      </table>
      {hosts.totalCount > hosts.edges.length && (
        <p>{hosts.totalCount - hosts.edges.length} more hosts are not listed here: `virtplane host list` shows them all.</p>
      )}
    </section>
  );
}

function HostRow(props: { api: Api; host: Host; onChanged(): void; onError(err: unknown): void }) {
  // What the drain answered, shown until the list is read again (the answer is the host as it is now).
  const [answered, setAnswered] = useState<Pick<Host, 'state' | 'draining'> | null>(null);
  useEffect(() => setAnswered(null), [props.host]);
  const h = { ...props.host, ...answered };
  const { busy, problem, attempt } = useAttempt((err) => props.onError(err));
  const drain = (draining: boolean) =>
    attempt(
      async () => (await props.api.request(SetHostDraining, { id: h.id, draining })).setHostDraining,
      ({ host }) => {
        setAnswered({ state: host.state, draining: host.draining });
        props.onChanged();
      },
    );
  return (
    <tr data-name={h.name} data-state={h.state}>
      <td>
        {h.name}
        {h.hostname && h.hostname !== h.name && <small> ({h.hostname})</small>}
      </td>
      <td class="state">{h.state}</td>
      <td>{h.cpus}</td>
      <td>{h.memoryMiB} MiB</td>
      <td data-resource="capacity">
        {limited(h.capacity.vcpus, 'vCPUs')}, {limited(h.capacity.memoryMiB, 'MiB')}
      </td>
      <td data-resource="domains">{h.use ? `${h.use.domains} (${h.use.activeDomains})` : '—'}</td>
      <td data-resource="vcpus">{h.use?.vcpus ?? '—'}</td>
      <td data-resource="memory">{h.use ? `${h.use.memoryMiB} MiB` : '—'}</td>
      <td class="actions">
        <button
          disabled={busy}
          aria-label={`${h.draining ? 'Resume placement on' : 'Drain'} ${h.name}`}
          onClick={() => void drain(!h.draining)}
        >
          {h.draining ? 'Resume placement' : 'Drain'}
        </button>
        {problem && <span role="alert">{problem}</span>}
      </td>
    </tr>
  );
}
