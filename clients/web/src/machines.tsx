import { useEffect, useRef, useState } from 'preact/hooks';
import { CreateConsoleTicket, DomainNode, Domains } from '../../sdk/src/documents.js';
import { outcome } from '../../sdk/src/result.js';
import { remove, type Action, type Domain, type Page } from './actions.js';
import { merged } from './activity-list.js';
import { Activity } from './activity.js';
import { Unauthenticated, type Api, type DomainEvent } from './api.js';
import { CreateMachine } from './create.js';
import { PortForwardList } from './ports.js';
import { MachineRow } from './row.js';
import { Metering } from './metering.js';
import { Usage } from './usage.js';

/** At most this many machines are listed (the API's page size, a few pages). */
const MAX_LISTED = 1000;

/** A failed read of the whole list is tried again after this long. */
const REREAD_MS = 2000;

export function Machines(props: { api: Api; admin: boolean; onRefused(): void }) {
  const { api } = props;
  const [machines, setMachines] = useState<ReadonlyMap<string, Domain> | null>(null);
  const [live, setLive] = useState(false);
  const [notes, setNotes] = useState<Readonly<Record<string, string>>>({});
  const [activity, setActivity] = useState<readonly DomainEvent[]>([]);
  /** The machine whose new size is being entered, if any. */
  const [resizing, setResizing] = useState<string | null>(null);
  /** Moves with every change shown, so the usage is read again. */
  const [changes, setChanges] = useState(0);
  // Each change asked about a row takes the next number: an answer shows only if no later one was asked, and a
  // full read started before a row changed leaves that row as its newer answer left it.
  const clock = useRef(0);
  const versions = useRef(new Map<string, number>());
  const touch = (id: string) => {
    versions.current.set(id, ++clock.current);
    return clock.current;
  };
  const latest = (id: string, n: number) => versions.current.get(id) === n;

  const put = (d: Domain) => {
    setMachines((m) => new Map(m ?? []).set(d.id, d));
    setChanges((n) => n + 1);
  };
  const drop = (id: string) => {
    setMachines((m) => {
      const next = new Map(m ?? []);
      next.delete(id);
      return next;
    });
    setChanges((n) => n + 1);
  };
  const note = (id: string, text: string) => setNotes((n) => ({ ...n, [id]: text }));
  const failed = (err: unknown) => (err instanceof Unauthenticated ? props.onRefused() : undefined);
  /** One machine read again: shown as it is now, or off the list when it is gone (or no longer the viewer's). */
  const reread = async (id: string) => {
    const n = touch(id);
    const { node } = await api.request(DomainNode, { id });
    if (!latest(id, n)) return;
    if (node?.__typename === 'Domain') put(node);
    else drop(id);
  };

  useEffect(() => {
    let gone = false;
    const readAll = async () => {
      const startedAt = clock.current;
      const all = new Map<string, Domain>();
      let after: string | null = null;
      do {
        const page: Page | null = (await api.request(Domains, { first: 100, after })).domains;
        if (!page) break;
        for (const e of page.edges) all.set(e.node.id, e.node);
        after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      } while (after && all.size < MAX_LISTED);
      setMachines((shown) => {
        for (const [id, v] of versions.current) {
          if (v <= startedAt) continue;
          const newer = shown?.get(id);
          if (newer) all.set(id, newer);
          else all.delete(id);
        }
        return all;
      });
      setChanges((n) => n + 1);
    };
    let retry: ReturnType<typeof setTimeout> | undefined;
    const load = () =>
      readAll().catch((err: unknown) => {
        if (err instanceof Unauthenticated) props.onRefused();
        else if (!gone) retry = setTimeout(() => void load(), REREAD_MS);
      });
    const stop = api.followDomainEvents({
      event: (e) => {
        setActivity((shown) => merged(shown, [e]));
        if (e.type !== 'UNDEFINED') return void reread(e.domain.id).catch(failed);
        touch(e.domain.id);
        drop(e.domain.id);
      },
      live: (fresh) => {
        setLive(true);
        if (fresh) void load();
      },
      away: () => setLive(false),
      refused: () => props.onRefused(),
    });
    return () => {
      gone = true;
      clearTimeout(retry);
      stop();
    };
  }, [api]);

  const act = async (d: Domain, [label, run]: Action) => {
    // Nothing to undo a delete with: the disk goes too.
    if (run === remove[1] && !window.confirm(`Delete ${d.name} and its disk?`)) return;
    note(d.id, `${label}…`);
    const n = touch(d.id);
    try {
      const r = outcome(await run(api, d.id));
      if (r.ok) {
        if (run === remove[1]) {
          touch(d.id);
          drop(d.id);
        } else if (latest(d.id, n)) put(r.value.domain);
        note(d.id, '');
      } else {
        // Gone, or handed to someone else (no event of it reaches this viewer any more): the re-read takes it
        // off the list. A NOT_FOUND of something else — a network, a volume — leaves it, with the note.
        if (r.error.code === 'NOT_FOUND') await reread(d.id);
        note(d.id, `${label}: ${r.error.code}: ${r.error.message}`);
      }
    } catch (err) {
      failed(err);
      note(d.id, `${label}: ${(err as Error).message}`);
    }
  };
  const openConsole = async (d: Domain, kind: 'SERIAL' | 'GRAPHICS') => {
    // Opened before the ticket is asked for, so the browser counts it as the click's own window. It must not
    // keep a way back to this page nor the token (a new tab gets a copy of this one's session storage).
    const view = window.open('about:blank', '_blank');
    if (view) {
      view.opener = null;
      view.sessionStorage.clear();
    }
    try {
      const r = outcome((await api.request(CreateConsoleTicket, { domainId: d.id, kind })).createConsoleTicket);
      if (r.ok && view) view.location.href = r.value.pageUrl;
      else {
        view?.close();
        if (!r.ok) note(d.id, `Console: ${r.error.code}: ${r.error.message}`);
      }
    } catch (err) {
      view?.close();
      failed(err);
      note(d.id, `Console: ${(err as Error).message}`);
    }
  };

  const list = machines === null ? null : [...machines.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <main>
      <p id="status" class={live ? 'live' : 'away'}>
        {live ? 'Live: changes show as they happen.' : 'Reconnecting…'}
      </p>
      <Usage api={api} changes={changes} onError={failed} />
      {list === null ? (
        <p>Loading…</p>
      ) : list.length === 0 ? (
        <p id="empty">No machines yet.</p>
      ) : (
        <table id="machines">
          <thead>
            <tr>
              <th>Name</th>
              {props.admin && <th>Owner</th>}
              <th>State</th>
              <th>vCPUs</th>
              <th>Memory</th>
              <th>Addresses</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((d) => (
              <MachineRow
                key={d.id}
                api={api}
                machine={d}
                admin={props.admin}
                note={notes[d.id]}
                resizing={resizing === d.id}
                onAct={(action) => void act(d, action)}
                onConsole={(kind) => void openConsole(d, kind)}
                onResizing={(open) => setResizing(open ? d.id : null)}
                onUpdated={(r) => {
                  touch(r.id);
                  put(r);
                }}
                onError={failed}
              />
            ))}
          </tbody>
        </table>
      )}
      <PortForwardList api={api} machines={list ?? []} changes={changes} onChanged={() => setChanges((n) => n + 1)} onError={failed} />
      <Metering api={api} changes={changes} onError={failed} />
      <Activity events={activity} />
      <CreateMachine
        api={api}
        onCreated={(d) => {
          // Its events may have shown it already, newer than this answer.
          if (versions.current.has(d.id)) return;
          touch(d.id);
          put(d);
        }}
        onError={failed}
      />
    </main>
  );
}
