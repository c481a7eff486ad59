import { useEffect, useState } from 'preact/hooks';
import { AddPortForward, PortForwards, RemovePortForward } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import { outcome } from '../../sdk/src/result.js';
import type { Api } from './api.js';

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
  const [forwards, setForwards] = useState<readonly Forward[] | null>(null);
  const [form, setForm] = useState({ domainId: '', protocol: 'TCP', hostPort: '', guestPort: '' });
  const [problem, setProblem] = useState('');
  const [read, setRead] = useState(0);

  useEffect(() => {
    let current = true;
    const asking = setTimeout(() => {
      props.api.request(PortForwards, { first: 100 }).then(
        (r) => current && setForwards(r.portForwards?.edges.map((e) => e.node) ?? []),
        (err: unknown) => current && props.onError(err),
      );
    }, 250);
    return () => {
      current = false;
      clearTimeout(asking);
    };
  }, [props.api, props.changes, read]);

  const changed = () => {
    setRead((n) => n + 1);
    props.onChanged();
  };
  const add = async (e: Event) => {
    e.preventDefault();
    setProblem('');
    try {
      const domainId = form.domainId || props.machines[0]?.id || '';
      const input = {
        domainId,
        protocol: form.protocol as 'TCP' | 'UDP',
        hostPort: Number(form.hostPort),
        guestPort: Number(form.guestPort),
      };
      const r = outcome((await props.api.request(AddPortForward, { input })).addPortForward);
      if (r.ok) {
        setForm((f) => ({ ...f, hostPort: '', guestPort: '' }));
        changed();
      } else setProblem(`${r.error.code}: ${r.error.message}`);
    } catch (err) {
      props.onError(err);
      setProblem((err as Error).message);
    }
  };
  const remove = async (id: string) => {
    try {
      const r = outcome((await props.api.request(RemovePortForward, { id })).removePortForward);
      if (r.ok) changed();
      else setProblem(`${r.error.code}: ${r.error.message}`);
    } catch (err) {
      props.onError(err);
      setProblem((err as Error).message);
    }
  };
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
