/** `virtplane domain …` */
import { Command, type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import {
  ApiError,
  CreateDomain,
  DeleteDomain,
  DestroyDomain,
  DomainConsole,
  DomainNode,
  Domains,
  EjectMedia,
  InsertMedia,
  RebootDomain,
  ResetDomain,
  ResizeDomain,
  RotateConsolePassword,
  ResumeDomain,
  ShutdownDomain,
  StartDomain,
  SuspendDomain,
  AssignDomain,
  unwrap,
  type ResultOf,
  type DomainFields,
  type VirtplaneClient,
} from '@virtplane/sdk';
import { connect } from './config.js';
import { isJson, list, note, show } from './output.js';
import { collect, domainId, hostId, userId } from './resolve.js';
import { action, int } from './run.js';

type Domain = ResultOf<typeof DomainFields>;

const row = (d: Domain) => ({
  name: d.name,
  state: d.state,
  vcpus: d.vcpus,
  memoryMiB: d.memoryMiB,
  owner: d.owner?.name,
  ipv4: d.interfaces.map((i) => i.ipv4).filter(Boolean),
  id: d.id,
});

const view = (d: Domain) => ({
  ...row(d),
  uuid: d.uuid,
  libvirtName: d.libvirtName,
  stateReason: d.stateReason,
  autostart: d.autostart,
  persistent: d.persistent,
  interfaces: d.interfaces.map((i) => `${i.mac ?? '?'} ${i.network?.name ?? i.type} ${i.ipv4 ?? '-'} ${i.ipv6 ?? '-'}`),
  disks: d.disks.map(
    (k) =>
      `${k.target} ${k.device}${k.image ? ` ${k.image.name}` : ''}${k.capacityBytes ? ` ${Math.round(k.capacityBytes / 2 ** 30)}GiB` : ''}`,
  ),
});

const showDomain = (d: Domain) => show(d, view(d));

export async function fetchDomain(vp: VirtplaneClient, id: string): Promise<Domain> {
  const { node } = await vp.request(DomainNode, { id });
  if (!node || node.__typename !== 'Domain') throw new ApiError('NOT_FOUND', 'domain not found');
  return node;
}

async function waitFor(vp: VirtplaneClient, id: string, state: string, timeoutS: number): Promise<Domain> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const d = await fetchDomain(vp, id);
    if (d.state === state) return d;
    if (Date.now() > deadline) throw new ApiError('TIMEOUT', `${d.name} is ${d.state}, not ${state}, after ${timeoutS} s`);
    if (process.stderr.isTTY && !isJson()) process.stderr.write(`\r${d.name}: ${d.state}, waiting for ${state}…`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

type Act = (vp: VirtplaneClient, id: string) => Promise<ResultOf<typeof StartDomain>['startDomain']>;
const ACTIONS: Record<string, [string, Act]> = {
  start: ['Start (boot) a stopped domain', async (vp, id) => (await vp.request(StartDomain, { id })).startDomain],
  shutdown: ['Ask the guest to shut down (ACPI)', async (vp, id) => (await vp.request(ShutdownDomain, { id })).shutdownDomain],
  destroy: ['Stop a domain at once (power off)', async (vp, id) => (await vp.request(DestroyDomain, { id })).destroyDomain],
  reboot: ['Ask the guest to reboot', async (vp, id) => (await vp.request(RebootDomain, { id })).rebootDomain],
  reset: ['Reset a domain at once (reset button)', async (vp, id) => (await vp.request(ResetDomain, { id })).resetDomain],
  suspend: ['Pause a running domain', async (vp, id) => (await vp.request(SuspendDomain, { id })).suspendDomain],
  resume: ['Resume a paused domain', async (vp, id) => (await vp.request(ResumeDomain, { id })).resumeDomain],
};

export function domainCommand(): CommandUnknownOpts {
  const cmd = new Command('domain').alias('domains').description('Virtual machines: list, create, start, stop, resize, delete');

  cmd
    .command('list')
    .description('List the domains you may see, by name')
    .option('--state <state>', 'only domains in this state (RUNNING, SHUTOFF, PAUSED, …)')
    .option('--name-contains <text>', 'only domains whose name contains this')
    .action(
      action(async (opts) => {
        const vp = connect();
        const filter = { state: opts.state?.toUpperCase() as never, nameContains: opts.nameContains };
        const items = await collect(async (after, first) => (await vp.request(Domains, { first, after, filter })).domains);
        list(items, ['name', 'state', 'vcpus', 'memoryMiB', 'owner', 'ipv4', 'id'], row);
      }),
    );

  cmd
    .command('show')
    .description('Show one domain')
    .argument('<domain>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        showDomain(await fetchDomain(vp, await domainId(vp, ref)));
      }),
    );

  cmd
    .command('create')
    .description('Create a domain owned by you (counts against your quota)')
    .argument('<name>', 'the domain name (unique among your domains)')
    .requiredOption('--vcpus <n>', 'virtual CPUs', int)
    .requiredOption('--memory <MiB>', 'memory in MiB', int)
    .requiredOption('--disk <GiB>', 'disk size in GiB', int)
    .requiredOption('--network <name>', 'the network of its NIC')
    .option('--image <name>', 'an install image for its CD-ROM drive')
    .addOption(new Option('--graphics <type>', 'graphical console').choices(['VNC', 'SPICE'] as const))
    .option('--nested', 'pass the host CPU through (nested virtualisation)')
    .option('--start', 'boot it once created')
    .option('--host <name>', 'admins: the host to create it on (name or ID; default: placement chooses)')
    .option('--wait', 'with --start: wait until it is RUNNING')
    .option('--timeout <s>', 'how long --wait waits', int, 120)
    .action(
      action(async (name, opts) => {
        const vp = connect();
        const input = {
          name,
          vcpus: opts.vcpus,
          memoryMiB: opts.memory,
          diskGiB: opts.disk,
          network: opts.network,
          installImage: opts.image,
          graphics: opts.graphics,
          nestedVirt: opts.nested,
          start: opts.start ?? false,
          host: opts.host === undefined ? undefined : await hostId(vp, opts.host),
        };
        let { domain } = unwrap((await vp.request(CreateDomain, { input })).createDomain);
        if (opts.wait && opts.start) {
          domain = await waitFor(vp, domain.id, 'RUNNING', opts.timeout);
          if (process.stderr.isTTY && !isJson()) process.stderr.write('\n');
        }
        showDomain(domain);
      }),
    );

  for (const [name, [description, act]] of Object.entries(ACTIONS)) {
    cmd
      .command(name)
      .description(description)
      .argument('<domain>', 'name or ID')
      .action(
        action(async (ref) => {
          const vp = connect();
          showDomain(unwrap(await act(vp, await domainId(vp, ref))).domain);
        }),
      );
  }

  cmd
    .command('resize')
    .description('Change vCPUs, memory or disk of a stopped domain (disks only grow)')
    .argument('<domain>', 'name or ID')
    .option('--vcpus <n>', 'virtual CPUs', int)
    .option('--memory <MiB>', 'memory in MiB', int)
    .option('--disk <GiB>', 'disk size in GiB', int)
    .action(
      action(async (ref, opts) => {
        const vp = connect();
        const input = { vcpus: opts.vcpus, memoryMiB: opts.memory, diskGiB: opts.disk };
        showDomain(unwrap((await vp.request(ResizeDomain, { id: await domainId(vp, ref), input })).resizeDomain).domain);
      }),
    );

  cmd
    .command('delete')
    .description('Stop and undefine a domain, delete its disk and release its resources')
    .argument('<domain>', 'name or ID')
    .option('--keep-disk', 'keep its disk volume in the pool')
    .action(
      action(async (ref, opts) => {
        const vp = connect();
        const { domain } = unwrap(
          (await vp.request(DeleteDomain, { id: await domainId(vp, ref), keepDisk: opts.keepDisk ?? false })).deleteDomain,
        );
        note(`deleted ${domain.name}`);
        showDomain(domain);
      }),
    );

  cmd
    .command('media')
    .description("Put an install image into the domain's CD-ROM drive, or empty it with --eject")
    .argument('<domain>', 'name or ID')
    .argument('[image]', 'the image name')
    .option('--eject', 'empty the drive')
    .action(
      action(async (ref, image, opts) => {
        const vp = connect();
        const id = await domainId(vp, ref);
        if (opts.eject) return showDomain(unwrap((await vp.request(EjectMedia, { id })).ejectMedia).domain);
        if (!image) throw new ApiError('USAGE', 'name an image, or --eject');
        showDomain(unwrap((await vp.request(InsertMedia, { id, image })).insertMedia).domain);
      }),
    );

  cmd
    .command('assign')
    .description('Give a domain to a user (admins)')
    .argument('<domain>', 'name or ID')
    .argument('<user>', 'user name or ID')
    .action(
      action(async (ref, user) => {
        const vp = connect();
        showDomain(
          unwrap((await vp.request(AssignDomain, { id: await domainId(vp, ref), userId: await userId(vp, user) })).assignDomain).domain,
        );
      }),
    );

  cmd
    .command('rotate-password')
    .description('Set a new random console password, on the running domain and in its definition')
    .argument('<domain>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        show(unwrap((await vp.request(RotateConsolePassword, { id: await domainId(vp, ref) })).rotateConsolePassword).console);
      }),
    );

  cmd
    .command('graphics')
    .description('How to reach the graphical console over an SSH tunnel, with its password')
    .argument('<domain>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        const { domainConsole } = await vp.request(DomainConsole, { id: await domainId(vp, ref) });
        if (!domainConsole) throw new ApiError('NOT_FOUND', 'no console');
        show(domainConsole);
      }),
    );

  return cmd;
}
