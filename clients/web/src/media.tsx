import { useState } from 'preact/hooks';
import { EjectMedia, Images, InsertMedia } from '../../sdk/src/documents.js';
import type { Domain } from './actions.js';
import type { Api } from './api.js';
import { useAttempt } from './hooks.js';

/** Images offered at most in the list (the API pages them by name). */
const OFFERED = 100;

/**
 * A machine's CD-ROM drive: what is in it, eject it, or put another install image in (to install or reinstall
 * a system, running or not). The API's typed refusal shows as it comes.
 */
export function MediaDrive(props: { api: Api; machine: Domain; onChanged(d: Domain): void; onError(err: unknown): void }) {
  const { api, machine } = props;
  const drive = machine.disks.find((d) => d.device === 'cdrom');
  const [choices, setChoices] = useState<string[] | null>(null);
  const { busy, problem, setProblem, attempt } = useAttempt((err) => props.onError(err));
  if (!drive) return null;

  /** Both mutations answer `{ domain }` or a typed error. */
  type Answer = { domain: Domain } | { code: string; message: string } | null;
  const run = (request: () => Promise<Answer>) =>
    attempt(request, (r) => {
      props.onChanged(r.domain);
      setChoices(null);
    });
  const choose = async () => {
    try {
      const r = await api.request(Images, { first: OFFERED });
      setChoices(r.images?.edges.map((e) => e.node.name) ?? []);
    } catch (err) {
      props.onError(err);
      setProblem((err as Error).message);
    }
  };
  const insert = (e: Event) => {
    e.preventDefault();
    const image = new FormData(e.currentTarget as HTMLFormElement).get('image');
    if (typeof image === 'string' && image) void run(async () => (await api.request(InsertMedia, { id: machine.id, image })).insertMedia);
  };

  return (
    <div class="media" aria-label={`CD-ROM drive of ${machine.name}`}>
      Drive: <span class="image">{drive.image?.name ?? (drive.hasMedia ? 'an image no longer offered' : 'empty')}</span>
      {drive.hasMedia && (
        <button disabled={busy} onClick={() => void run(async () => (await api.request(EjectMedia, { id: machine.id })).ejectMedia)}>
          Eject
        </button>
      )}
      {choices === null ? (
        <button disabled={busy} onClick={() => void choose()}>
          Insert image…
        </button>
      ) : (
        <form onSubmit={insert}>
          <select name="image" aria-label="Install image" required>
            {choices.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy || choices.length === 0}>
            Insert
          </button>
          <button type="button" onClick={() => setChoices(null)}>
            Cancel
          </button>
        </form>
      )}
      {problem && <p role="alert">{problem}</p>}
    </div>
  );
}
