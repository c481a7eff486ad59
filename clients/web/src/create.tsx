import { useEffect, useState } from 'preact/hooks';
import { CreateChoices, CreateDomain } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import { outcome } from '../../sdk/src/result.js';
import type { Api } from './api.js';

type Choices = ResultOf<typeof CreateChoices>;
type Created = Extract<NonNullable<ResultOf<typeof CreateDomain>['createDomain']>, { domain: unknown }>['domain'];

/** A new machine: name, size, network and install image; the API's typed refusal is shown as it comes. */
export function CreateMachine(props: { api: Api; onCreated(d: Created): void; onError(err: unknown): void }) {
  const [choices, setChoices] = useState<Choices | null>(null);
  // Numbers stay as typed until sent: a field being edited may be empty or half-written.
  const [form, setForm] = useState({ name: '', vcpus: '1', memoryMiB: '1024', diskGiB: '10', network: '', installImage: '', start: true });
  const [problem, setProblem] = useState<{ text: string; field: string | null; retry?: boolean } | null>(null);
  const [busy, setBusy] = useState(false);

  const [asked, setAsked] = useState(0);
  useEffect(() => {
    props.api.request(CreateChoices).then(
      (c) => {
        setChoices(c);
        const first = c.networks?.edges.find((e) => e.node.active)?.node.name ?? '';
        setForm((f) => ({ ...f, network: f.network || first }));
      },
      (err: unknown) => {
        props.onError(err);
        setProblem({ text: `The networks and images could not be read: ${(err as Error).message}`, field: null, retry: true });
      },
    );
  }, [props.api, asked]);

  const set = (field: keyof typeof form) => (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    setForm((f) => ({ ...f, [field]: input.type === 'checkbox' ? input.checked : input.value }));
    // What was wrong is stale once that field changes.
    setProblem((p) => (p?.field === field ? null : p));
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const { installImage, vcpus, memoryMiB, diskGiB, ...rest } = form;
      const input = {
        ...rest,
        vcpus: Number(vcpus),
        memoryMiB: Number(memoryMiB),
        diskGiB: Number(diskGiB),
        ...(installImage ? { installImage } : {}),
      };
      const r = outcome((await props.api.request(CreateDomain, { input })).createDomain);
      if (r.ok) {
        props.onCreated(r.value.domain);
        setForm((f) => ({ ...f, name: '' }));
      } else setProblem({ text: `${r.error.code}: ${r.error.message}`, field: 'field' in r.error ? (r.error.field ?? null) : null });
    } catch (err) {
      props.onError(err);
      setProblem({ text: (err as Error).message, field: null });
    } finally {
      setBusy(false);
    }
  };
  const invalid = (field: string) => (problem?.field === field ? { 'aria-invalid': true } : {});

  return (
    <form id="create" onSubmit={(e) => void submit(e)}>
      <h2>New machine</h2>
      <label>
        Name
        <input name="name" required maxLength={64} value={form.name} onInput={set('name')} {...invalid('name')} />
      </label>
      <label>
        vCPUs
        <input name="vcpus" type="number" required min={1} value={form.vcpus} onInput={set('vcpus')} {...invalid('vcpus')} />
      </label>
      <label>
        Memory (MiB)
        <input
          name="memoryMiB"
          type="number"
          required
          min={64}
          value={form.memoryMiB}
          onInput={set('memoryMiB')}
          {...invalid('memoryMiB')}
        />
      </label>
      <label>
        Disk (GiB)
        <input name="diskGiB" type="number" required min={1} value={form.diskGiB} onInput={set('diskGiB')} {...invalid('diskGiB')} />
      </label>
      <label>
        Network
        <select name="network" value={form.network} onChange={set('network')} {...invalid('network')}>
          {choices?.networks?.edges.map(({ node }) => (
            <option key={node.id} value={node.name} disabled={!node.active}>
              {node.name}
              {node.freeIpv4 !== null ? ` (${node.freeIpv4} addresses free)` : ''}
            </option>
          ))}
        </select>
      </label>
      <label>
        Install image
        <select name="installImage" value={form.installImage} onChange={set('installImage')} {...invalid('installImage')}>
          <option value="">none</option>
          {choices?.images?.edges.map(({ node }) => (
            <option key={node.name} value={node.name}>
              {node.name}
            </option>
          ))}
        </select>
      </label>
      <label class="inline">
        <input name="start" type="checkbox" checked={form.start} onChange={set('start')} />
        Start it
      </label>
      <button type="submit" disabled={busy || !form.name || !form.network}>
        {busy ? 'Creating…' : 'Create'}
      </button>
      {problem && (
        <p role="alert">
          {problem.text}
          {problem.retry && (
            <button type="button" onClick={() => setAsked((n) => n + 1)}>
              Try again
            </button>
          )}
        </p>
      )}
    </form>
  );
}
