import type { ConsoleTicket, DomainConsole } from '../services/console/index.js';
import { builder } from './builder.js';
import { DOMAIN_ACTION_ERRORS, LimitExceededError, ValidationError } from './errors.js';
import type { AuditTarget } from './guards.js';
import { localDomain } from './ids.js';

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
    resolve: (_root, args, ctx) => ctx.services.console.get(ctx.viewer, localDomain(ctx, args.id)),
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
    resolve: (_root, args, ctx) => ctx.services.console.rotatePassword(ctx.viewer, localDomain(ctx, args.id)),
  }),
);

export const ConsoleKindEnum = builder.enumType('ConsoleKind', {
  values: {
    GRAPHICS: { description: 'The graphical console (VNC): the WebSocket carries the raw RFB stream.' },
    SERIAL: { description: 'The first serial port: the WebSocket carries the raw byte stream both ways.' },
  } as const,
});

const ConsoleTicketRef = builder.objectRef<ConsoleTicket>('ConsoleTicketSuccess').implement({
  description: 'A one-time ticket for one console of one domain.',
  fields: (t) => ({
    ticket: t.exposeString('ticket', {
      description: 'Used once; redeemable until expiresAt; bound to the API token that asked, the domain and the kind. Never logged.',
    }),
    expiresAt: t.field({ type: 'DateTime', resolve: (c) => c.expiresAt }),
    pageUrl: t.exposeString('pageUrl', { description: 'Opens the console in a browser (noVNC or xterm.js, served by this server).' }),
    websocketUrl: t.exposeString('websocketUrl', {
      description: 'A WebSocket opened on it carries the raw RFB (GRAPHICS) or serial (SERIAL) stream in binary frames.',
    }),
  }),
});

builder.mutationField('createConsoleTicket', (t) =>
  t.field({
    type: ConsoleTicketRef,
    description:
      'A one-time ticket (30 s) to open the graphical or serial console of one of your running domains in a browser or a script.',
    args: { domainId: t.arg.id({ required: true }), kind: t.arg({ type: ConsoleKindEnum, required: true }) },
    extensions: { auditTarget: ((args) => String(args.domainId)) satisfies AuditTarget },
    errors: {
      types: [...DOMAIN_ACTION_ERRORS, LimitExceededError],
      directResult: true,
      union: { name: 'CreateConsoleTicketResult' },
    },
    resolve: (_root, args, ctx) =>
      ctx.services.console.createTicket(ctx.viewer, localDomain(ctx, args.domainId), String(args.domainId), args.kind),
  }),
);
