import { useState } from 'preact/hooks';
import { ResizeDomain } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import type { Api } from './api.js';
import { useAttempt } from './hooks.js';
import { SaveOrCancel } from './parts.js';

type Resized = Extract<NonNullable<ResultOf<typeof ResizeDomain>['resizeDomain']>, { domain: unknown }>['domain'];
const GiB = 1024 ** 3;

/** A stopped machine's new size, in its row; the API's typed refusal shows as it comes. */
export function ResizeForm(props: {
  api: Api;
  machine: {
    id: string;
    name: string;
    vcpus: number;
    memoryMiB: number;
    disks: readonly { device: string; capacityBytes: number | null }[];
  };
  onResized(d: Resized): void;
  onClose(): void;
  onError(err: unknown): void;
}) {
  const { machine } = props;
  const disk = machine.disks.find((d) => d.device === 'disk');
  const diskGiB = disk?.capacityBytes ? Math.ceil(disk.capacityBytes / GiB) : null;
  const [size, setSize] = useState({ vcpus: String(machine.vcpus), memoryMiB: String(machine.memoryMiB), diskGiB: String(diskGiB ?? '') });
  const { busy, problem, attempt } = useAttempt((err) => props.onError(err));
  const set = (field: keyof typeof size) => (e: Event) => setSize((s) => ({ ...s, [field]: (e.currentTarget as HTMLInputElement).value }));

  const submit = async (e: Event) => {
    e.preventDefault();
    const input = {
      vcpus: Number(size.vcpus),
      memoryMiB: Number(size.memoryMiB),
      // Disks only grow: sent only when changed.
      ...(diskGiB !== null && Number(size.diskGiB) !== diskGiB ? { diskGiB: Number(size.diskGiB) } : {}),
    };
    await attempt(
      async () => (await props.api.request(ResizeDomain, { id: machine.id, input })).resizeDomain,
      (r) => {
        props.onResized(r.domain);
        props.onClose();
      },
    );
  };
  return (
    <form class="resize" aria-label={`New size of ${machine.name}`} onSubmit={(e) => void submit(e)}>
      <label>
        vCPUs <input name="vcpus" type="number" required min={1} value={size.vcpus} onInput={set('vcpus')} />
      </label>
      <label>
        Memory (MiB) <input name="memoryMiB" type="number" required min={64} value={size.memoryMiB} onInput={set('memoryMiB')} />
      </label>
      {diskGiB !== null && (
        <label>
          Disk (GiB) <input name="diskGiB" type="number" required min={diskGiB} value={size.diskGiB} onInput={set('diskGiB')} />
        </label>
      )}
      <SaveOrCancel busy={busy} problem={problem} onClose={() => props.onClose()} />
    </form>
  );
}
