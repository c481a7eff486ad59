import { useEffect, useState } from 'preact/hooks';
import { SetQuota, UsersOverview } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import type { Api } from './api.js';
import { useAttempt } from './hooks.js';
import { Failure, SaveOrCancel } from './parts.js';
import { amount, monthSoFar } from './metering.js';
import { Tokens } from './tokens.js';

type User = NonNullable<ResultOf<typeof UsersOverview>['users']>['edges'][number]['node'];
type Limits = User['quota']['limits'];

/** Users listed at most (the API pages them by name); a server with more has the CLI. */
const SHOWN = 100;

const HELD: [label: string, used: keyof User['quota']['usage'], limit: keyof Limits][] = [
  ['Machines', 'domains', 'maxDomains'],
  ['vCPUs', 'vcpus', 'maxVcpus'],
  ['Memory MiB', 'memoryMiB', 'maxMemoryMiB'],
  ['Disk GiB', 'diskGiB', 'maxDiskGiB'],
  ['NICs', 'interfaces', 'maxInterfaces'],
  ['Port forwards', 'portForwards', 'maxPortForwards'],
];

/** Admins: every user, what it holds against its quota, what it used this month; quotas set in place. */
export function Users(props: { api: Api; onError(err: unknown): void }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [more, setMore] = useState(0);
  const [editing, setEditing] = useState<string | null>(null);
  /** The user whose tokens are shown under its row. */
  const [tokensOf, setTokensOf] = useState<string | null>(null);
  const [reads, setReads] = useState(0);
  const [problem, setProblem] = useState('');
  useEffect(() => {
    let current = true;
    props.api.request(UsersOverview, { first: SHOWN, ...monthSoFar() }).then(
      (r) => {
        if (!current || !r.users) return;
        setUsers(r.users.edges.map((e) => e.node));
        setMore(r.users.totalCount - r.users.edges.length);
      },
      (err: unknown) => {
        if (!current) return;
        props.onError(err);
        setProblem(`The users could not be read: ${(err as Error).message}`);
      },
    );
    return () => {
      current = false;
    };
  }, [props.api, reads]);

  if (problem)
    return (
      <Failure
        problem={problem}
        onRetry={() => {
          setProblem('');
          setReads((n) => n + 1);
        }}
      />
    );
  if (users === null) return <p>Loading…</p>;
  return (
    <section id="users" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Role</th>
            {HELD.map(([label]) => (
              <th key={label}>{label}</th>
            ))}
            <th>Hours running this month (UTC)</th>
            <th>vCPU-hours</th>
            <th>Memory GiB-hours</th>
            <th>Disk GiB-hours</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {users.map((u) => [
            <tr key={u.id} data-name={u.name}>
              <td>{u.name}</td>
              <td>{u.role.toLowerCase()}</td>
              {HELD.map(([label, used, limit]) => (
                <td key={label} data-resource={used}>
                  {u.quota.usage[used]}
                  {u.quota.limits[limit] === null ? '' : ` of ${u.quota.limits[limit]}`}
                </td>
              ))}
              <td>{u.usage ? amount(u.usage.runningHours) : '—'}</td>
              <td>{u.usage ? amount(u.usage.vcpuHours) : '—'}</td>
              <td>{u.usage ? amount(u.usage.memoryGiBHours) : '—'}</td>
              <td>{u.usage ? amount(u.usage.diskGiBHours) : '—'}</td>
              <td class="actions">
                {Object.values(u.quota.limits).every((v) => v === null) ? (
                  // An admin without a quota is unlimited: a form of zeros here would lock it out of creating anything.
                  'unlimited'
                ) : editing === u.id ? (
                  <QuotaForm
                    api={props.api}
                    user={u}
                    onSaved={() => {
                      setEditing(null);
                      setReads((n) => n + 1);
                    }}
                    onClose={() => setEditing(null)}
                    onError={(err) => props.onError(err)}
                  />
                ) : (
                  <button aria-label={`Quota of ${u.name}`} onClick={() => setEditing(u.id)}>
                    Quota…
                  </button>
                )}
                <button aria-expanded={tokensOf === u.id} onClick={() => setTokensOf(tokensOf === u.id ? null : u.id)}>
                  Tokens…
                </button>
              </td>
            </tr>,
            tokensOf === u.id && (
              <tr key={`${u.id}-tokens`} class="tokens-row">
                <td colSpan={HELD.length + 7}>
                  <Tokens api={props.api} userId={u.id} userName={u.name} onError={(err) => props.onError(err)} />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </table>
      {more > 0 && <p>{more} more users are not listed here: `virtplane user list` shows them all.</p>}
    </section>
  );
}

const FIELDS: [label: string, name: keyof Limits][] = [
  ['Machines', 'maxDomains'],
  ['vCPUs', 'maxVcpus'],
  ['Memory (MiB)', 'maxMemoryMiB'],
  ['Disk (GiB)', 'maxDiskGiB'],
  ['NICs', 'maxInterfaces'],
  ['Port forwards', 'maxPortForwards'],
];

/** A user's limits, as setQuota takes them (every figure required); its typed refusal shows as it comes. */
function QuotaForm(props: { api: Api; user: User; onSaved(): void; onClose(): void; onError(err: unknown): void }) {
  const start = Object.fromEntries(FIELDS.map(([, name]) => [name, String(props.user.quota.limits[name] ?? 0)])) as Record<
    keyof Limits,
    string
  >;
  const [values, setValues] = useState(start);
  const { busy, problem, attempt } = useAttempt((err) => props.onError(err));
  const submit = async (e: Event) => {
    e.preventDefault();
    const input = {
      maxDomains: Number(values.maxDomains),
      maxVcpus: Number(values.maxVcpus),
      maxMemoryMiB: Number(values.maxMemoryMiB),
      maxDiskGiB: Number(values.maxDiskGiB),
      maxInterfaces: Number(values.maxInterfaces),
      maxPortForwards: Number(values.maxPortForwards),
    };
    await attempt(
      async () => (await props.api.request(SetQuota, { userId: props.user.id, input })).setQuota,
      () => props.onSaved(),
    );
  };
  return (
    <form class="quota" aria-label={`Quota of ${props.user.name}`} onSubmit={(e) => void submit(e)}>
      {FIELDS.map(([label, name]) => (
        <label key={name}>
          {label}{' '}
          <input
            name={name}
            type="number"
            required
            min={0}
            value={values[name]}
            onInput={(e) => {
              const value = e.currentTarget.value;
              setValues((v) => ({ ...v, [name]: value }));
            }}
          />
        </label>
      ))}
      <SaveOrCancel busy={busy} problem={problem} onClose={() => props.onClose()} />
    </form>
  );
}
