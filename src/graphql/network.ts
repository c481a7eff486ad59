import type { NetworkAddress, NetworkRecord } from '../model/index.js';
import type { AntiSpoofingView, Lease } from '../services/network/index.js';
import { builder } from './builder.js';
import { connectionFromSorted, countedConnection } from './connection.js';
import type { Context } from './context.js';
import { NETWORK_ERRORS } from './errors.js';
import { HostRef } from './host.js';
import { encodeGlobalID, localId } from './ids.js';

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

const AntiSpoofingRef = builder.objectRef<AntiSpoofingView>('AntiSpoofing').implement({
  description: "libvirt's clean-traffic nwfilter on the NICs of this network.",
  fields: (t) => ({
    enabled: t.exposeBoolean('enabled', { description: 'The admin setting (on unless turned off).' }),
    supported: t.exposeBoolean('supported', { description: 'Whether the libvirt driver has nwfilter support (the test driver has none).' }),
  }),
});

// Declared here, implemented below: Lease points back at Domain, which imports this file.
export const NetworkLeaseRef = builder.objectRef<Lease>('NetworkLease');

export const NetworkRef = builder.node(builder.objectRef<NetworkRecord>('Network'), {
  description: 'A libvirt virtual network.',
  id: { resolve: (n, _a, ctx) => ctx.services.networks.keyOf(n) },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'forwardMode' in value,
  loadOne: (uuid, ctx) => ctx.services.networks.find(ctx.viewer, uuid),
  fields: (t) => ({
    uuid: t.exposeString('uuid'),
    name: t.exposeString('name'),
    active: t.exposeBoolean('active'),
    autostart: t.exposeBoolean('autostart'),
    persistent: t.exposeBoolean('persistent'),
    forwardMode: t.field({ type: NetworkForwardModeEnum, resolve: (n, _args, ctx) => ctx.services.networks.forwardModeOf(n) }),
    forwardDevice: t.exposeString('forwardDevice', { nullable: true }),
    bridge: t.exposeString('bridge', { nullable: true }),
    ipv4: t.field({ type: NetworkIPv4Ref, nullable: true, resolve: (n) => n.ipv4 }),
    ipv6: t.field({ type: NetworkIPv6Ref, nullable: true, resolve: (n) => n.ipv6 }),
    antiSpoofing: t.field({ type: AntiSpoofingRef, resolve: (n, _a, ctx) => ctx.services.networks.antiSpoofing(n) }),
    leases: t.field({
      type: [NetworkLeaseRef],
      description: 'Addresses virtplane gave out on this network (tenants see only their own).',
      resolve: (n, _a, ctx) => ctx.services.ipam.leases(ctx.viewer, n),
    }),
    freeIpv4: t.int({
      nullable: true,
      description: 'IPv4 addresses still free for new NICs (admins only; null for tenants and networks without IPv4).',
      resolve: (n, _a, ctx) => ctx.services.ipam.freeIpv4(ctx.viewer, n),
    }),
    host: t.field({
      type: HostRef,
      nullable: true,
      description: 'The host the network is on (admins only; null for tenants).',
      resolve: (n, _a, ctx) => ctx.services.hosts.ofObject(ctx.viewer, n),
    }),
  }),
});

builder.queryField('networks', (t) =>
  t.connection(
    {
      type: NetworkRef,
      description: 'libvirt networks, ordered by name.',
      resolve: (_root, args, ctx) =>
        connectionFromSorted(ctx.services.networks.list(ctx.viewer), args, (n) => [n.name, ctx.services.networks.keyOf(n)]),
    },
    countedConnection('NetworkConnection'),
    { name: 'NetworkEdge' },
  ),
);

const CreateForwardModeEnum = builder.enumType('CreateNetworkForwardMode', {
  description: 'Forward modes createNetwork offers.',
  values: ['ROUTE', 'NAT', 'ISOLATED'] as const,
});

const DhcpRangeInput = builder.inputType('DhcpRangeInput', {
  fields: (t) => ({ start: t.string({ required: true }), end: t.string({ required: true }) }),
});

const NetworkIPv4Input = builder.inputType('NetworkIPv4Input', {
  fields: (t) => ({
    address: t.string({ required: true, description: "The host's address on the network, e.g. 203.0.113.177." }),
    prefix: t.int({ required: true }),
    dhcpRange: t.field({ type: DhcpRangeInput, required: false, description: 'Addresses DHCP and IPAM hand out.' }),
  }),
});

const NetworkIPv6Input = builder.inputType('NetworkIPv6Input', {
  fields: (t) => ({ address: t.string({ required: true }), prefix: t.int({ required: true }) }),
});

const CreateNetworkInput = builder.inputType('CreateNetworkInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    forwardMode: t.field({ type: CreateForwardModeEnum, required: true }),
    forwardDevice: t.string({ required: false, description: 'Host interface to forward through (ROUTE/NAT).' }),
    bridge: t.string({ required: true, description: 'Name of the bridge libvirt creates (at most 15 characters, unique).' }),
    ipv4: t.field({ type: NetworkIPv4Input, required: false }),
    ipv6: t.field({ type: NetworkIPv6Input, required: false }),
    autostart: t.boolean({ required: false, defaultValue: false }),
    start: t.boolean({ required: false, defaultValue: false, description: 'Start the network right after defining it.' }),
    host: t.id({
      required: false,
      description:
        'The host to define it on (a Host ID, see `hosts`); each host has its own networks. Default: the host the server runs beside. NOT_FOUND for a host this server does not serve.',
    }),
  }),
});

builder.mutationField('createNetwork', (t) =>
  t.field({
    type: NetworkRef,
    description: 'Defines a libvirt network (admin).',
    args: { input: t.arg({ type: CreateNetworkInput, required: true }) },
    errors: {
      types: NETWORK_ERRORS,
      result: { name: 'CreateNetworkSuccess' },
      union: { name: 'CreateNetworkResult' },
      dataField: { name: 'network' },
    },
    resolve: (_root, { input }, ctx) =>
      ctx.services.networks.create(ctx.viewer, { ...input, host: input.host == null ? null : localId(String(input.host), 'Host') }),
  }),
);

type NetworkAction = (ctx: Context, uuid: string, flag: boolean) => NetworkRecord | Promise<NetworkRecord>;

/** One `NetworkActionResult` mutation per action; `flag` names its Boolean argument, if it has one. */
const networkAction = (field: string, description: string, flag: 'autostart' | 'enabled' | null, run: NetworkAction) =>
  builder.mutationField(field, (t) =>
    t.field({
      type: NetworkRef,
      description,
      args: {
        id: t.arg.id({ required: true }),
        ...(flag ? { [flag]: t.arg.boolean({ required: true }) } : {}),
      },
      errors: {
        types: NETWORK_ERRORS,
        result: { name: 'NetworkActionSuccess' },
        union: { name: 'NetworkActionResult' },
        dataField: { name: 'network' },
      },
      resolve: (_root, args, ctx) =>
        run(ctx, localId(String(args.id), 'Network'), flag ? Boolean((args as Record<string, unknown>)[flag]) : false),
    }),
  );

networkAction('startNetwork', 'Starts a defined network (admin).', null, (ctx, id) => ctx.services.networks.start(ctx.viewer, id));
networkAction('stopNetwork', 'Stops a running network (admin).', null, (ctx, id) => ctx.services.networks.stop(ctx.viewer, id));
networkAction('setNetworkAutostart', 'Sets whether libvirt starts the network when it starts (admin).', 'autostart', (ctx, id, on) =>
  ctx.services.networks.setAutostart(ctx.viewer, id, on),
);
networkAction(
  'setNetworkAntiSpoofing',
  'Turns the clean-traffic nwfilter for new NICs on this network on or off (admin).',
  'enabled',
  (ctx, id, on) => ctx.services.networks.setAntiSpoofing(ctx.viewer, id, on),
);

builder.mutationField('deleteNetwork', (t) =>
  t.field({
    type: NetworkRef,
    description: 'Stops and undefines a network (admin); IN_USE while domains use it. Answers with its last state.',
    args: { id: t.arg.id({ required: true }) },
    errors: {
      types: NETWORK_ERRORS,
      result: {
        name: 'DeleteNetworkSuccess',
        // The answer was only this ID before it carried the network; kept so that clients reading it still work.
        fields: (r) => ({
          deletedId: r.id({
            description: 'The deleted network’s global ID (the same as `network { id }`).',
            resolve: (n, _a, ctx) => encodeGlobalID('Network', ctx.services.networks.keyOf(n)),
          }),
        }),
      },
      union: { name: 'DeleteNetworkResult' },
      dataField: { name: 'network' },
    },
    resolve: (_root, args, ctx) => ctx.services.networks.delete(ctx.viewer, localId(String(args.id), 'Network')),
  }),
);
