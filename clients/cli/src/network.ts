/** `virtplane network|forward|image …` */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import {
  AddImage,
  AddPortForward,
  ApiError,
  CreateImageUpload,
  CreateNetwork,
  DeleteNetwork,
  Images,
  Networks,
  PortForwards,
  RemoveImage,
  RemovePortForward,
  SetNetworkAntiSpoofing,
  NetworkEvents,
  ImageUpload,
  SetNetworkAutostart,
  StartNetwork,
  StopNetwork,
  unwrap,
} from '@virtplane/sdk';
import { connect } from './config.js';
import { isJson, list, note, show } from './output.js';
import { printFollowed } from './events.js';
import { collect, domainId, networkId } from './resolve.js';
import { action, int } from './run.js';

const onOff = (v: string): boolean => {
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new ApiError('USAGE', `say on or off, not ${v}`);
};

function cidr(v: string): { address: string; prefix: number } {
  const m = /^(.+)\/(\d+)$/.exec(v);
  if (!m) throw new ApiError('USAGE', `not ADDRESS/PREFIX: ${v}`);
  return { address: m[1]!, prefix: Number(m[2]) };
}

export function networkCommand(): CommandUnknownOpts {
  const cmd = new Command('network').alias('networks').description('libvirt networks (changes: admins)');
  cmd
    .command('list')
    .description('List networks')
    .action(
      action(async () => {
        const vp = connect();
        const items = await collect(async (after, first) => (await vp.request(Networks, { first, after })).networks);
        list(items, ['name', 'active', 'autostart', 'forwardMode', 'bridge', 'ipv4', 'ipv6', 'freeIpv4', 'id'], (n) => ({
          ...n,
          ipv4: n.ipv4 ? `${n.ipv4.address}/${n.ipv4.prefix}` : null,
          ipv6: n.ipv6 ? `${n.ipv6.address}/${n.ipv6.prefix}` : null,
        }));
      }),
    );
  cmd
    .command('create')
    .description('Define a network')
    .argument('<name>', 'network name')
    .addOption(new Option('--mode <mode>', 'forward mode').choices(['ROUTE', 'NAT', 'ISOLATED'] as const).makeOptionMandatory())
    .requiredOption('--bridge <name>', 'bridge device (at most 15 characters)')
    .option('--forward-device <dev>', "the host's uplink (ROUTE, NAT)")
    .option('--ipv4 <address/prefix>', "the host's IPv4 address on it, with the prefix")
    .option('--dhcp <start-end>', 'IPv4 DHCP range, e.g. 10.0.0.10-10.0.0.99')
    .option('--ipv6 <address/prefix>', "the host's IPv6 address on it, with the prefix")
    .option('--start', 'start it at once')
    .option('--autostart', 'start it with libvirt')
    .action(
      action(async (name, o) => {
        const range = o.dhcp?.split('-');
        const input = {
          name,
          forwardMode: o.mode,
          bridge: o.bridge,
          forwardDevice: o.forwardDevice,
          start: o.start ?? false,
          autostart: o.autostart ?? false,
          ipv4: o.ipv4 ? { ...cidr(o.ipv4), dhcpRange: range ? { start: range[0]!, end: range[1] ?? '' } : undefined } : undefined,
          ipv6: o.ipv6 ? cidr(o.ipv6) : undefined,
        };
        show(unwrap((await connect().request(CreateNetwork, { input })).createNetwork).network);
      }),
    );
  cmd
    .command('start')
    .description('Start a network')
    .argument('<network>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        show(unwrap((await vp.request(StartNetwork, { id: await networkId(vp, ref) })).startNetwork).network);
      }),
    );
  cmd
    .command('stop')
    .description('Stop a network')
    .argument('<network>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        show(unwrap((await vp.request(StopNetwork, { id: await networkId(vp, ref) })).stopNetwork).network);
      }),
    );
  cmd
    .command('autostart')
    .description('Start it with libvirt, or not')
    .argument('<network>', 'name or ID')
    .argument('<on|off>')
    .action(
      action(async (ref, v) => {
        const vp = connect();
        show(
          unwrap((await vp.request(SetNetworkAutostart, { id: await networkId(vp, ref), autostart: onOff(v) })).setNetworkAutostart)
            .network,
        );
      }),
    );
  cmd
    .command('anti-spoofing')
    .description('The clean-traffic filter for new NICs on it')
    .argument('<network>', 'name or ID')
    .argument('<on|off>')
    .action(
      action(async (ref, v) => {
        const vp = connect();
        show(
          unwrap((await vp.request(SetNetworkAntiSpoofing, { id: await networkId(vp, ref), enabled: onOff(v) })).setNetworkAntiSpoofing)
            .network,
        );
      }),
    );
  cmd
    .command('delete')
    .description('Stop and undefine a network (refused while a domain uses it)')
    .argument('<network>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        const r = unwrap((await vp.request(DeleteNetwork, { id: await networkId(vp, ref) })).deleteNetwork);
        show(r, { deletedId: r.deletedId, name: r.network?.name });
      }),
    );
  cmd
    .command('events')
    .description(
      'Follow network lifecycle events (admins): those after --after, then live; reconnects and resumes like `virtplane events --follow`',
    )
    .option('--after <cursor>', 'start right after this event (default: from now on)')
    .option('--network <network>', 'only this network (name or ID)')
    .addOption(new Option('--type <type...>', 'only these event types').choices(['DEFINED', 'STARTED', 'STOPPED', 'UNDEFINED'] as const))
    .option('--count <n>', 'stop after this many events', int)
    .action(
      action(async (o) => {
        const vp = connect();
        const vars = { networkId: o.network ? await networkId(vp, o.network) : undefined, types: o.type };
        await printFollowed(
          (options) => vp.follow(NetworkEvents, vars, (d) => d.networkEvents, { after: o.after ?? null, ...options }),
          o.count ?? Infinity,
          (e) => `${e.at} ${e.network.name} ${e.type} active=${e.network.active}${e.synthetic ? ' synthetic' : ''} cursor=${e.cursor}`,
        );
      }),
    );
  return cmd;
}

export function forwardCommand(): CommandUnknownOpts {
  const cmd = new Command('forward').alias('forwards').description('NAT port forwards from the host to domains');
  cmd
    .command('list')
    .description('Port forwards you may see')
    .action(
      action(async () => {
        const vp = connect();
        const items = await collect(async (after, first) => (await vp.request(PortForwards, { first, after })).portForwards);
        list(items, ['protocol', 'hostPort', 'domain', 'guestIpv4', 'guestPort', 'id'], (f) => ({ ...f, domain: f.domain?.name }));
      }),
    );
  cmd
    .command('add')
    .description('Forward a host port to a domain')
    .argument('<domain>', 'name or ID')
    .requiredOption('--host-port <port>', 'port on the host', int)
    .requiredOption('--guest-port <port>', 'port in the guest', int)
    .addOption(new Option('--protocol <p>', 'protocol').choices(['TCP', 'UDP'] as const).default('TCP' as const))
    .action(
      action(async (ref, o) => {
        const vp = connect();
        const input = { domainId: await domainId(vp, ref), hostPort: o.hostPort, guestPort: o.guestPort, protocol: o.protocol };
        show(unwrap((await vp.request(AddPortForward, { input })).addPortForward).portForward);
      }),
    );
  cmd
    .command('remove')
    .description('Remove a port forward')
    .argument('<id>', 'its ID')
    .action(
      action(async (id) => {
        show(unwrap((await connect().request(RemovePortForward, { id })).removePortForward).portForward);
      }),
    );
  return cmd;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function imageCommand(): CommandUnknownOpts {
  const cmd = new Command('image').alias('images').description('Install images (changes: admins)');
  cmd
    .command('list')
    .description('List images')
    .action(
      action(async () => {
        const vp = connect();
        list(await collect(async (after, first) => (await vp.request(Images, { first, after })).images), [
          'name',
          'sizeBytes',
          'sha256',
          'path',
        ]);
      }),
    );
  cmd
    .command('add')
    .description('Publish an ISO already in a dir storage pool')
    .argument('<name>')
    .argument('<path>', 'host path of the file')
    .action(
      action(async (name, path) => {
        show(unwrap((await connect().request(AddImage, { name, path })).addImage).image);
      }),
    );
  cmd
    .command('remove')
    .description('Withdraw an image (the file stays)')
    .argument('<name>')
    .action(
      action(async (name) => {
        show(unwrap((await connect().request(RemoveImage, { name })).removeImage).image);
      }),
    );
  cmd
    .command('upload-status')
    .description('An upload’s progress (PENDING, RECEIVING, DONE, FAILED, EXPIRED)')
    .argument('<id>', 'the upload ID')
    .action(
      action(async (id) => {
        const { imageUpload } = await connect().request(ImageUpload, { id });
        if (!imageUpload) throw new ApiError('NOT_FOUND', `no upload ${id}`);
        show(imageUpload, { ...imageUpload, image: imageUpload.image?.name });
      }),
    );
  cmd
    .command('upload')
    .description('Upload an ISO from this machine (its SHA-256 is checked by the server); progress on a terminal')
    .argument('<file>', 'the ISO')
    .option('--name <name>', 'image name (default: the file name without .iso)')
    .option('--pool <pool>', 'a dir storage pool (default: the server’s)')
    .action(
      action(async (file, o) => {
        const vp = connect();
        const { size } = await stat(file);
        const name = o.name ?? basename(file).replace(/\.iso$/i, '');
        note(`hashing ${file}…`);
        const input = { name, pool: o.pool, sizeBytes: size, sha256: await sha256(file) };
        const { upload } = unwrap((await vp.request(CreateImageUpload, { input })).createImageUpload);
        const tty = process.stderr.isTTY && !isJson();
        let last = 0;
        const answer = await vp.uploadFile(upload.uploadUrl, file, ({ sentBytes, totalBytes }) => {
          if (!tty || (Date.now() - last < 200 && sentBytes < totalBytes)) return;
          last = Date.now();
          const pct = totalBytes ? Math.floor((sentBytes / totalBytes) * 100) : 100;
          process.stderr.write(
            `\ruploading ${name}: ${pct}% (${(sentBytes / 2 ** 20).toFixed(1)} of ${(totalBytes / 2 ** 20).toFixed(1)} MiB)`,
          );
        });
        if (tty) process.stderr.write('\n');
        const image = (answer as { image?: Record<string, unknown> } | null)?.image ?? {};
        show(image);
      }),
    );
  return cmd;
}
