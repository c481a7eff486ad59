import type { NetworkAddress, NetworkRecord } from '../libvirt/types.js';
import { builder } from './builder.js';
import { connectionFromSorted } from './connection.js';

export const NetworkForwardModeEnum = builder.enumType('NetworkForwardMode', {
  description: 'How the network reaches the outside: libvirt forward modes, ISOLATED when it has none.',
  values: ['NAT', 'ROUTE', 'OPEN', 'BRIDGE', 'ISOLATED', 'OTHER'] as const,
});

const DhcpRangeRef = builder.objectRef<{ start: string; end: string }>('DhcpRange').implement({
  fields: (t) => ({ start: t.exposeString('start'), end: t.exposeString('end') }),
});

const NetworkIPv4Ref = builder.objectRef<NetworkAddress>('NetworkIPv4').implement({
  fields: (t) => ({
    address: t.exposeString('address', { description: "The host's address on the network." }),
    prefix: t.exposeInt('prefix'),
    dhcpRanges: t.field({ type: [DhcpRangeRef], resolve: (a) => a.dhcpRanges }),
  }),
});

const NetworkIPv6Ref = builder.objectRef<NetworkAddress>('NetworkIPv6').implement({
  fields: (t) => ({
    address: t.exposeString('address'),
    prefix: t.exposeInt('prefix'),
  }),
});

export const NetworkRef = builder.node(builder.objectRef<NetworkRecord>('Network'), {
  description: 'A libvirt virtual network.',
  id: { resolve: (n) => n.uuid },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'forwardMode' in value,
  loadOne: (uuid, ctx) => ctx.services.networks.find(ctx.viewer, uuid),
  fields: (t) => ({
    uuid: t.exposeString('uuid'),
    name: t.exposeString('name'),
    active: t.exposeBoolean('active'),
    autostart: t.exposeBoolean('autostart'),
    persistent: t.exposeBoolean('persistent'),
    forwardMode: t.field({ type: NetworkForwardModeEnum, resolve: (n) => n.forwardMode }),
    bridge: t.exposeString('bridge', { nullable: true }),
    ipv4: t.field({ type: NetworkIPv4Ref, nullable: true, resolve: (n) => n.ipv4 }),
    ipv6: t.field({ type: NetworkIPv6Ref, nullable: true, resolve: (n) => n.ipv6 }),
  }),
});

builder.queryField('networks', (t) =>
  t.connection(
    {
      type: NetworkRef,
      description: 'libvirt networks, ordered by name.',
      resolve: (_root, args, ctx) => connectionFromSorted(ctx.services.networks.list(ctx.viewer), args, (n) => [n.name, n.uuid]),
    },
    {
      name: 'NetworkConnection',
      fields: (c) => ({ totalCount: c.int({ resolve: (conn) => (conn as unknown as { totalCount: number }).totalCount }) }),
    },
    { name: 'NetworkEdge' },
  ),
);
