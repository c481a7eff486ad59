import type { Api } from './api.js';
import { ACTIONS, type Action, type Domain } from './actions.js';
import { MediaDrive } from './media.js';
import { ResizeForm } from './resize.js';

/** One machine: what it is, what it can be asked to do in its state, and what the last request said. */
export function MachineRow(props: {
  api: Api;
  machine: Domain;
  admin: boolean;
  note: string | undefined;
  resizing: boolean;
  onAct(action: Action): void;
  onConsole(kind: 'SERIAL' | 'GRAPHICS'): void;
  onResizing(open: boolean): void;
  /** A resize or a media change answered the machine as it is now. */
  onUpdated(d: Domain): void;
  onError(err: unknown): void;
}) {
  const d = props.machine;
  return (
    <tr data-name={d.name}>
      <td>{d.name}</td>
      {props.admin && <td class="owner">{d.owner?.name ?? 'nobody'}</td>}
      <td>
        <span class={`state ${d.state.toLowerCase()}`}>{d.state}</span>
      </td>
      <td>{d.vcpus}</td>
      <td>{d.memoryMiB} MiB</td>
      <td>
        {d.interfaces
          .flatMap((i) => [i.ipv4, i.ipv6])
          .filter(Boolean)
          .map((a) => (
            <div key={a}>{a}</div>
          ))}
      </td>
      <td class="actions">
        {(ACTIONS[d.state] ?? []).map((action) => (
          <button key={action[0]} aria-label={`${action[0]} ${d.name}`} onClick={() => props.onAct(action)}>
            {action[0]}
          </button>
        ))}
        {d.state === 'SHUTOFF' && !props.resizing && (
          <button aria-label={`Resize ${d.name}`} onClick={() => props.onResizing(true)}>
            Resize
          </button>
        )}
        {d.state === 'SHUTOFF' && props.resizing && (
          <ResizeForm
            api={props.api}
            machine={d}
            onResized={(r) => props.onUpdated(r)}
            onClose={() => props.onResizing(false)}
            onError={(err) => props.onError(err)}
          />
        )}
        {d.state === 'RUNNING' && (
          <>
            <button onClick={() => props.onConsole('SERIAL')}>Serial console</button>
            <button onClick={() => props.onConsole('GRAPHICS')}>Screen</button>
          </>
        )}
        <MediaDrive api={props.api} machine={d} onChanged={(r) => props.onUpdated(r)} onError={(err) => props.onError(err)} />
        {props.note && (
          <div class="note" role="status">
            {props.note}
          </div>
        )}
      </td>
    </tr>
  );
}
