/** `virtplane login|logout|whoami|host|user|token|quota|audit` */
import { Command, type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import {
  ApiError,
  AuditLog,
  CreateApiToken,
  CreateUser,
  DeleteUser,
  Host,
  HostEvents,
  Hosts,
  RevokeApiToken,
  SetHostDraining,
  SetQuota,
  UserNode,
  Users,
  Viewer,
  ViewerQuota,
  VirtplaneClient,
  unwrap,
} from '@virtplane/sdk';
import { configFile, connect, readConfig, removeConfig, writeConfig } from './config.js';
import { isJson, list, note, printJson, printTable, show } from './output.js';
import { collect, hostId, userId } from './resolve.js';
import { printFollowed } from './events.js';
import { action, int } from './run.js';

async function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let data = '';
    for await (const chunk of stdin) data += String(chunk);
    return data.trim();
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new ApiError('USAGE', 'cancelled'));
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = (err: Error | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value.trim());
    };
    stdin.on('data', onData);
  });
}

export function loginCommands(): CommandUnknownOpts[] {
  const login = new Command('login')
    .summary('Store a server and an API token (read from VIRTPLANE_TOKEN or standard input)')
    .description(
      'Store a server and an API token in $XDG_CONFIG_HOME/virtplane/config.json (mode 0600). The token is read from ' +
        'VIRTPLANE_TOKEN, else from standard input (typed without echo on a terminal, or piped): never from the command line.',
    )
    .argument('<url>', 'the server, e.g. http://127.0.0.1:4000')
    .action(
      action(async (url) => {
        const token = process.env.VIRTPLANE_TOKEN || (await readSecret('API token: '));
        if (!token) throw new ApiError('USAGE', 'no token given');
        const vp = new VirtplaneClient({ url, token });
        const { viewer } = await vp.request(Viewer);
        if (!viewer) throw new ApiError('UNAUTHENTICATED', 'the server does not know this token');
        writeConfig({ url: vp.urls.base, token });
        note(`logged in to ${vp.urls.base} as ${viewer.name} (${viewer.role}); saved in ${configFile()}`);
        if (isJson()) printJson({ url: vp.urls.base, user: viewer });
      }),
    );
  const logout = new Command('logout').description('Forget the stored server and token').action(
    action(async () => {
      note(removeConfig() ? `removed ${configFile()}` : 'not logged in');
      await Promise.resolve();
    }),
  );
  const whoami = new Command('whoami').description('The user the token belongs to, and the server').action(
    action(async () => {
      const vp = connect();
      const { viewer } = await vp.request(Viewer);
      show({
        url: vp.urls.base,
        ...viewer,
        config: process.env.VIRTPLANE_TOKEN ? 'VIRTPLANE_TOKEN' : readConfig().token ? configFile() : null,
      });
    }),
  );
  return [login, logout, whoami, hostCommand()];
}

function hostCommand(): CommandUnknownOpts {
  const cmd = new Command('host')
    .alias('hosts')
    .description('The host this server runs beside; `list`, `drain`, `undrain`: the hosts guests are placed on (admins)')
    .action(
      action(async () => {
        const { host } = await connect().request(Host);
        if (!host) throw new ApiError('NOT_FOUND', 'no host');
        show(host);
      }),
    );
  cmd
    .command('list')
    .description('List the hosts with their state and use (admins)')
    .action(
      action(async () => {
        const vp = connect();
        list(
          await collect(async (after, first) => (await vp.request(Hosts, { first, after })).hosts),
          ['name', 'state', 'cpus', 'memoryMiB', 'domains', 'vcpus', 'memoryUsedMiB', 'id'],
          (h) => ({
            ...h,
            domains: h.use?.domains,
            vcpus: h.use?.vcpus,
            memoryUsedMiB: h.use?.memoryMiB,
          }),
        );
      }),
    );
  cmd
    .command('events')
    .description(
      'Follow host state changes (admins): DOWN, UP, DRAINING; those after --after, then live; reconnects and resumes like `virtplane events --follow`',
    )
    .option('--after <cursor>', 'start right after this event (default: from now on)')
    .option('--host <host>', 'only this host (name or ID)')
    .addOption(new Option('--type <type...>', 'only these states entered').choices(['UP', 'DOWN', 'DRAINING'] as const))
    .option('--count <n>', 'stop after this many events', int)
    .action(
      action(async (o) => {
        const vp = connect();
        const vars = { hostId: o.host ? await hostId(vp, o.host) : undefined, types: o.type };
        await printFollowed(
          (options) => vp.follow(HostEvents, vars, (d) => d.hostEvents, { after: o.after ?? null, ...options }),
          o.count ?? Infinity,
          (e) => `${e.at} ${e.hostName} ${e.type} ${e.detail} draining=${e.draining}${e.synthetic ? ' synthetic' : ''} cursor=${e.cursor}`,
        );
      }),
    );
  for (const [name, draining, what] of [
    ['drain', true, 'Stop placing new guests on a host (its guests keep running)'],
    ['undrain', false, 'Place new guests on a host again'],
  ] as const) {
    cmd
      .command(name)
      .description(`${what} (admins)`)
      .argument('<host>', 'name or ID')
      .action(
        action(async (ref) => {
          const vp = connect();
          const { host } = unwrap((await vp.request(SetHostDraining, { id: await hostId(vp, ref), draining })).setHostDraining);
          show(host);
        }),
      );
  }
  return cmd;
}

export function userCommand(): CommandUnknownOpts {
  const cmd = new Command('user').alias('users').description('Users (admins)');
  cmd
    .command('list')
    .description('List all users')
    .action(
      action(async () => {
        const vp = connect();
        list(await collect(async (after, first) => (await vp.request(Users, { first, after })).users), ['name', 'role', 'createdAt', 'id']);
      }),
    );
  cmd
    .command('show')
    .description('A user with its tokens and quota')
    .argument('<user>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        const { node } = await vp.request(UserNode, { id: await userId(vp, ref) });
        if (!node || node.__typename !== 'User') throw new ApiError('NOT_FOUND', `no user ${ref}`);
        show(node, {
          name: node.name,
          role: node.role,
          id: node.id,
          createdAt: node.createdAt,
          tokens: node.apiTokens.map((t) => `${t.label}(${t.prefix}…${t.revokedAt ? ' revoked' : ''})`),
          limits: node.quota.limits,
          usage: node.quota.usage,
        });
      }),
    );
  cmd
    .command('create')
    .description('Create a user')
    .argument('<name>', 'the user name')
    .addOption(new Option('--role <role>', 'its role').choices(['TENANT', 'ADMIN'] as const).default('TENANT' as const))
    .action(
      action(async (name, opts) => {
        const { user } = unwrap((await connect().request(CreateUser, { input: { name, role: opts.role } })).createUser);
        show(user);
      }),
    );
  cmd
    .command('delete')
    .description('Delete a user and its tokens (refused while it owns domains)')
    .argument('<user>', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        const { user } = unwrap((await vp.request(DeleteUser, { id: await userId(vp, ref) })).deleteUser);
        show(user);
      }),
    );
  return cmd;
}

export function tokenCommand(): CommandUnknownOpts {
  const cmd = new Command('token').alias('tokens').description('API tokens (admins)');
  cmd
    .command('create')
    .description('A new token for a user; the secret is printed once, on standard output')
    .argument('<user>', 'user name or ID')
    .requiredOption('--label <label>', 'what it is for')
    .option('--expires <date-time>', 'RFC 3339 expiry (default: until revoked)')
    .action(
      action(async (ref, opts) => {
        const vp = connect();
        const r = unwrap(
          (await vp.request(CreateApiToken, { userId: await userId(vp, ref), label: opts.label, expiresAt: opts.expires })).createApiToken,
        );
        if (isJson()) printJson(r);
        else {
          note(`token ${r.apiToken.label} (${r.apiToken.id}); keep it, it is not shown again:`);
          process.stdout.write(r.token + '\n');
        }
      }),
    );
  cmd
    .command('list')
    .description("A user's tokens")
    .argument('<user>', 'user name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        const { node } = await vp.request(UserNode, { id: await userId(vp, ref) });
        if (!node || node.__typename !== 'User') throw new ApiError('NOT_FOUND', `no user ${ref}`);
        list(node.apiTokens, ['label', 'prefix', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt', 'id']);
      }),
    );
  cmd
    .command('revoke')
    .description('Revoke a token at once (its WebSockets are closed)')
    .argument('<id>', 'token ID')
    .action(
      action(async (id) => {
        show(unwrap((await connect().request(RevokeApiToken, { id })).revokeApiToken).apiToken);
      }),
    );
  return cmd;
}

type QuotaView = {
  limits: Record<string, number | null>;
  usage: Record<string, number>;
};
const LIMITS: [string, string][] = [
  ['domains', 'maxDomains'],
  ['vcpus', 'maxVcpus'],
  ['memoryMiB', 'maxMemoryMiB'],
  ['diskGiB', 'maxDiskGiB'],
  ['interfaces', 'maxInterfaces'],
  ['portForwards', 'maxPortForwards'],
];
function showQuota(q: QuotaView): void {
  if (isJson()) return printJson(q);
  printTable(
    LIMITS.map(([used, limit]) => ({ resource: used, used: q.usage[used], limit: q.limits[limit] ?? 'unlimited' })),
    ['resource', 'used', 'limit'],
  );
}

export function quotaCommand(): CommandUnknownOpts {
  const cmd = new Command('quota').description('Quotas: limits and usage');
  cmd
    .command('show')
    .description("A user's quota (admins), or your own")
    .argument('[user]', 'name or ID')
    .action(
      action(async (ref) => {
        const vp = connect();
        if (!ref) {
          const { viewer } = await vp.request(ViewerQuota);
          if (!viewer) throw new ApiError('NOT_FOUND', 'no viewer');
          return showQuota(viewer.quota);
        }
        const { node } = await vp.request(UserNode, { id: await userId(vp, ref) });
        if (!node || node.__typename !== 'User') throw new ApiError('NOT_FOUND', `no user ${ref}`);
        showQuota(node.quota);
      }),
    );
  cmd
    .command('set')
    .description("Set a user's limits (admins)")
    .argument('<user>', 'name or ID')
    .requiredOption('--domains <n>', 'most domains', int)
    .requiredOption('--vcpus <n>', 'most vCPUs in all', int)
    .requiredOption('--memory <MiB>', 'most memory in all', int)
    .requiredOption('--disk <GiB>', 'most disk in all', int)
    .requiredOption('--interfaces <n>', 'most NICs in all', int)
    .option('--port-forwards <n>', 'most port forwards (omitted: unchanged)', int)
    .action(
      action(async (ref, o) => {
        const vp = connect();
        const input = {
          maxDomains: o.domains,
          maxVcpus: o.vcpus,
          maxMemoryMiB: o.memory,
          maxDiskGiB: o.disk,
          maxInterfaces: o.interfaces,
          maxPortForwards: o.portForwards,
        };
        showQuota(unwrap((await vp.request(SetQuota, { userId: await userId(vp, ref), input })).setQuota).quota);
      }),
    );
  return cmd;
}

export function auditCommand(): CommandUnknownOpts {
  return new Command('audit')
    .description('The audit log, newest first (admins)')
    .option('--limit <n>', 'at most this many entries', int, 50)
    .option('--action <action>', 'only this mutation (e.g. createDomain)')
    .option('--actor <user>', 'only by this user (name or ID)')
    .option('--target <id>', 'only on this target ID')
    .option('--result <result>', 'only with this result (SUCCESS, NOT_FOUND, …)')
    .option('--since <date-time>', 'RFC 3339')
    .option('--until <date-time>', 'RFC 3339')
    .action(
      action(async (o) => {
        const vp = connect();
        const filter = {
          action: o.action,
          actorId: o.actor ? await userId(vp, o.actor) : undefined,
          target: o.target,
          result: o.result,
          since: o.since,
          until: o.until,
        };
        const items = await collect(async (after, first) => (await vp.request(AuditLog, { first, after, filter })).auditLog, o.limit);
        list(items, ['at', 'actorName', 'action', 'target', 'result', 'message']);
      }),
    );
}
