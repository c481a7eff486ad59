import type { PortForward } from '../services/network/index.js';
import { builder } from './builder.js';
import { connectionFromSorted, countedConnection } from './connection.js';
import { DomainRef } from './domain.js';
import { PORT_FORWARD_ERRORS } from './errors.js';
import { localDomain, localId } from './ids.js';

const ProtocolEnum = builder.enumType('PortForwardProtocol', { values: ['TCP', 'UDP'] as const });

const PortForwardRef = builder.node(builder.objectRef<PortForward>('PortForward'), {
  description: 'A NAT port forward: traffic to a host port goes to a port of the guest’s pinned IPv4.',
  id: { resolve: (p) => p.id },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'hostPort' in v && 'guestPort' in v,
  loadOne: (id, ctx) => ctx.services.portForwards.find(ctx.viewer, id),
  fields: (t) => ({
    protocol: t.field({ type: ProtocolEnum, resolve: (p) => p.protocol }),
    hostPort: t.exposeInt('hostPort'),
    guestPort: t.exposeInt('guestPort'),
    guestIpv4: t.exposeString('guestIpv4', {
      nullable: true,
      description: 'Where the rule sends traffic now; null while the guest has no IPv4.',
    }),
    domain: t.field({
      type: DomainRef,
      nullable: true,
      resolve: (p, _a, ctx) => ctx.services.domains.find(ctx.viewer, p.domainUuid),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.createdAt }),
  }),
});

/** The list's order as a cursor key: protocol, then the host port zero-padded so that keys sort as numbers. */
const portForwardKey = (p: PortForward) => [p.protocol, String(p.hostPort).padStart(5, '0')];

builder.queryField('portForwards', (t) =>
  t.connection(
    {
      type: PortForwardRef,
      description: 'Port forwards you may see (admins: all), by protocol and host port.',
      resolve: (_root, args, ctx) => connectionFromSorted(ctx.services.portForwards.list(ctx.viewer), args, portForwardKey),
    },
    countedConnection('PortForwardConnection'),
    { name: 'PortForwardEdge' },
  ),
);

const AddPortForwardInput = builder.inputType('AddPortForwardInput', {
  fields: (t) => ({
    domainId: t.id({ required: true }),
    protocol: t.field({ type: ProtocolEnum, required: true }),
    hostPort: t.int({ required: true }),
    guestPort: t.int({ required: true }),
  }),
});

builder.mutationField('addPortForward', (t) =>
  t.field({
    type: PortForwardRef,
    description:
      "Forwards a host port to a domain you may see. Tenants: within the owner's quota maxPortForwards, host ports 1024 and above, never the API's own port (VALIDATION).",
    args: { input: t.arg({ type: AddPortForwardInput, required: true }) },
    errors: {
      types: PORT_FORWARD_ERRORS,
      result: { name: 'AddPortForwardSuccess' },
      union: { name: 'AddPortForwardResult' },
      dataField: { name: 'portForward' },
    },
    resolve: (_root, { input }, ctx) =>
      ctx.services.portForwards.add(ctx.viewer, {
        domainUuid: localDomain(ctx, input.domainId),
        protocol: input.protocol,
        hostPort: input.hostPort,
        guestPort: input.guestPort,
      }),
  }),
);

builder.mutationField('removePortForward', (t) =>
  t.field({
    type: PortForwardRef,
    description: 'Removes a port forward; returns it as it was.',
    args: { id: t.arg.id({ required: true }) },
    errors: {
      types: PORT_FORWARD_ERRORS,
      result: { name: 'RemovePortForwardSuccess' },
      union: { name: 'RemovePortForwardResult' },
      dataField: { name: 'portForward' },
    },
    resolve: (_root, args, ctx) => ctx.services.portForwards.remove(ctx.viewer, localId(String(args.id), 'PortForward')),
  }),
);
