import type { DomainConsole } from '../services/console.js';
import { builder } from './builder.js';
import { DOMAIN_ACTION_ERRORS, ValidationError } from './errors.js';
import { localId } from './ids.js';

export const GraphicsTypeEnum = builder.enumType('GraphicsType', { values: ['SPICE', 'VNC'] as const });

const DomainConsoleRef = builder.objectRef<DomainConsole>('DomainConsole').implement({
  description:
    "A domain's graphical console. It listens on the host's loopback only: open the SSH tunnel, then point a SPICE/VNC viewer at localhost:<port> with the password.",
  fields: (t) => ({
    type: t.field({ type: GraphicsTypeEnum, resolve: (c) => c.type }),
    listen: t.exposeString('listen', { description: 'Address on the host, 127.0.0.1.' }),
    port: t.exposeInt('port', { nullable: true, description: 'null until the domain runs.' }),
    password: t.exposeString('password'),
    sshTunnelCommand: t.exposeString('sshTunnelCommand', {
      nullable: true,
      description: 'e.g. `ssh -L 5900:127.0.0.1:5900 alice@host`; null until the domain runs.',
    }),
  }),
});

builder.queryField('domainConsole', (t) =>
  t.field({
    type: DomainConsoleRef,
    description: 'How to reach the console of one of your domains, with its password.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.console.get(ctx.viewer, localId(String(args.id), 'Domain')),
  }),
);

builder.mutationField('rotateConsolePassword', (t) =>
  t.field({
    type: DomainConsoleRef,
    description: 'Sets a new random console password, on the running domain and in its definition.',
    args: { id: t.arg.id({ required: true }) },
    errors: {
      types: [...DOMAIN_ACTION_ERRORS, ValidationError],
      result: { name: 'RotateConsolePasswordSuccess' },
      union: { name: 'RotateConsolePasswordResult' },
      dataField: { name: 'console' },
    },
    resolve: (_root, args, ctx) => ctx.services.console.rotatePassword(ctx.viewer, localId(String(args.id), 'Domain')),
  }),
);
