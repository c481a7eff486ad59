/** `virtplane pool …`: storage pools (admins). */
import { Command, type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import {
  CreateStoragePool,
  DeleteStoragePool,
  StartStoragePool,
  StopStoragePool,
  StoragePools,
  unwrap,
  ApiError,
  type VirtplaneClient,
} from '@virtplane/sdk';
import { connect } from './config.js';
import { list, show } from './output.js';
import { collect } from './resolve.js';
import { action } from './run.js';

async function poolId(vp: VirtplaneClient, ref: string): Promise<string> {
  const pools = await collect(async (after, first) => (await vp.request(StoragePools, { first, after })).storagePools);
  const found = pools.find((p) => p.id === ref || p.name === ref);
  if (!found) throw new ApiError('NOT_FOUND', `no storage pool ${ref}`);
  return found.id;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)}GiB`;

export function poolCommand(): CommandUnknownOpts {
  const cmd = new Command('pool').alias('pools').description('Storage pools (admins)');
  cmd
    .command('list')
    .description('List storage pools with their capacity')
    .action(
      action(async () => {
        const vp = connect();
        const pools = await collect(async (after, first) => (await vp.request(StoragePools, { first, after })).storagePools);
        list(pools, ['name', 'type', 'state', 'autostart', 'path', 'capacity', 'available', 'definedByVirtplane', 'id'], (p) => ({
          ...p,
          path: p.path ?? p.vgName,
          capacity: gib(p.capacityBytes),
          available: gib(p.availableBytes),
        }));
      }),
    );
  cmd
    .command('create')
    .description('Define a directory pool, or an LVM volume group (on --device, or an existing group)')
    .argument('<name>', 'pool name')
    .addOption(new Option('--type <type>', 'pool type').choices(['DIR', 'LOGICAL'] as const).default('DIR' as const))
    .option('--path <dir>', 'DIR: its directory (made if missing)')
    .option('--vg <name>', 'LOGICAL: the volume group (default: the pool name)')
    .option('--device <dev...>', 'LOGICAL: build the volume group on these devices')
    .option('--start', 'start it at once')
    .option('--autostart', 'start it with libvirt')
    .action(
      action(async (name, o) => {
        const input = {
          name,
          type: o.type,
          path: o.path,
          vgName: o.vg,
          sourceDevices: o.device,
          start: o.start ?? false,
          autostart: o.autostart ?? false,
        };
        show(unwrap((await connect().request(CreateStoragePool, { input })).createStoragePool).storagePool);
      }),
    );
  cmd
    .command('start')
    .description('Start a pool')
    .argument('<pool>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        show(unwrap((await vp.request(StartStoragePool, { id: await poolId(vp, ref) })).startStoragePool).storagePool);
      }),
    );
  cmd
    .command('stop')
    .description('Stop a pool')
    .argument('<pool>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        show(unwrap((await vp.request(StopStoragePool, { id: await poolId(vp, ref) })).stopStoragePool).storagePool);
      }),
    );
  cmd
    .command('delete')
    .description('Stop and undefine a pool virtplane defined (refused while it holds anything)')
    .argument('<pool>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        show(unwrap((await vp.request(DeleteStoragePool, { id: await poolId(vp, ref) })).deleteStoragePool).storagePool);
      }),
    );
  return cmd;
}
