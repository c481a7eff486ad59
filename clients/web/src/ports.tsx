import { useState } from 'preact/hooks';
import { AddPortForward, PortForwards, RemovePortForward } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import type { Api } from './api.js';
import { useAttempt, useQuietRead } from './hooks.js';

type Forward = NonNullable<ResultOf<typeof PortForwards>['portForwards']>['edges'][number]['node'];

/**
 * The viewer's NAT port forwards (a host port to a machine's port), with a form for a new one. They are no
 * libvirt objects, so no event tells of them: the list is read when shown, after each change made here, and
 * when `changes` moves (a machine deleted takes its forwards).
 */
export function PortForwardList(props: {
  api: Api;
  machines: readonly { id: string; name: string }[];
  changes: number;
  onChanged(): void;
  onError(err: unknown): void;
}) {
  const [form, setForm] = useState({ domainId: '', protocol: 'TCP', hostPort: '', guestPort: '' });
  const [read, setRead] = useState(0);
  const forwards = useQuietRead(
    async (): Promise<readonly Forward[]> =>
      (await props.api.request(PortForwards, { first: 100 })).portForwards?.edges.map((e) => e.node) ?? [],
    (err) => props.onError(err),
    [props.api, props.changes, read],
  );
  const { problem, attempt } = useAttempt((err) => props.onError(err));

  const changed = () => {
    setRead((n) => n + 1);
    props.onChanged();
  };
  const add = async (e: Event) => {
    e.preventDefault();
    const input = {
      domainId: form.domainId || props.machines[0]?.id || '',
      protocol: form.protocol as 'TCP' | 'UDP',
      hostPort: Number(form.hostPort),
      guestPort: Number(form.guestPort),
    };
    await attempt(
      async () => (await props.api.request(AddPortForward, { input })).addPortForward,
      () => {
        setForm((f) => ({ ...f, hostPort: '', guestPort: '' }));
        changed();
      },
    );
  };
  const remove = (id: string) => attempt(async () => (await props.api.request(RemovePortForward, { id })).removePortForward, changed);
  const set = (field: keyof typeof form) => (e: Event) => setForm((f) => ({ ...f, [field]: (e.currentTarget as HTMLInputElement).value }));

  if (forwards === null) return null;
  return (
    <section id="ports" aria-labelledby="ports-title">
      <h2 id="ports-title">Port forwards</h2>
      {forwards.length > 0 && (
        <ul>
          {forwards.map((f) => (
            <li key={f.id} data-host-port={f.hostPort}>
              {f.protocol} host port {f.hostPort} → {f.domain?.name ?? '?'} port {f.guestPort}
              {f.guestIpv4 ? ` (${f.guestIpv4})` : ' (no address yet)'}{' '}
              <button aria-label={`Remove ${f.protocol} host port ${f.hostPort}`} onClick={() => void remove(f.id)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {props.machines.length > 0 && (
        <form onSubmit={(e) => void add(e)}>
          <label>
            Machine
            <select name="domainId" value={form.domainId || props.machines[0]?.id} onChange={set('domainId')}>
              {props.machines.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Protocol
            <select name="protocol" value={form.protocol} onChange={set('protocol')}>
              <option value="TCP">TCP</option>
              <option value="UDP">UDP</option>
            </select>
          </label>
          <label>
            Host port <input name="hostPort" type="number" required min={1} max={65535} value={form.hostPort} onInput={set('hostPort')} />
          </label>
          <label>
            Its port <input name="guestPort" type="number" required min={1} max={65535} value={form.guestPort} onInput={set('guestPort')} />
          </label>
          <button type="submit">Forward</button>
        </form>
      )}
      {problem && <p role="alert">{problem}</p>}
    </section>
  );
}
