import { DOMAIN_STATES, type DomainDisk, type DomainGraphics, type DomainInterface, type DomainRecord, shownName } from '../model/index.js';
import { builder } from './builder.js';
import type { Context } from './context.js';
import { connectionFromSorted, countedConnection } from './connection.js';
import { GraphicsTypeEnum } from './console.js';
import { CREATE_DOMAIN_ERRORS, DOMAIN_ACTION_ERRORS, RESIZE_DOMAIN_ERRORS } from './errors.js';
import { HostRef } from './host.js';
import { encodeGlobalID, localId } from './ids.js';
import { NetworkLeaseRef, NetworkRef } from './network.js';
import { UserRef } from './users.js';

export const DomainStateEnum = builder.enumType('DomainState', {
  description: "libvirt's virDomainState, by libvirt's names.",
  values: DOMAIN_STATES,
});

const Ipv4AssignmentEnum = builder.enumType('Ipv4Assignment', {
  description: 'How a NIC’s IPv4 address reaches its guest.',
  values: {
    DHCP: { description: 'The network’s DHCP server hands it out, pinned to the NIC’s MAC: a guest doing DHCPv4 gets it.' },
    STATIC: {
      description: 'No DHCP host entry holds it (the network has no DHCP, or the entry was removed by hand): configure it in the guest.',
    },
  } as const,
});

const Ipv6AssignmentEnum = builder.enumType('Ipv6Assignment', {
  description: 'How a NIC’s IPv6 address reaches its guest.',
  values: {
    SLAAC: {
      description:
        'The EUI-64 address of the NIC’s MAC in the network’s /64: a guest autoconfiguring from the router advertisement with an interface identifier from its MAC (SLAAC, EUI-64) forms it by itself. A guest using privacy extensions or stable-privacy (RFC 7217) identifiers forms another address, which the anti-spoofing filter drops: configure this one instead (see the README).',
    },
    STATIC: {
      description:
        'The network’s IPv6 subnet is not a /64 (or the address was given before addresses followed the MAC): configure it in the guest.',
    },
  } as const,
});

/** A NIC as the API shows it: with its domain's host, where its network and addresses are. */
type HostedInterface = DomainInterface & { hostId: number | undefined };

const DomainInterfaceRef = builder.objectRef<HostedInterface>('DomainInterface').implement({
  fields: (t) => ({
    type: t.exposeString('type', { description: 'libvirt interface type: network, bridge, …' }),
    mac: t.exposeString('mac', { nullable: true }),
    model: t.exposeString('model', { nullable: true }),
    network: t.field({
      type: NetworkRef,
      nullable: true,
      resolve: (i, _args, ctx) => (i.network ? (ctx.services.networks.byName(i.network, i.hostId) ?? null) : null),
    }),
    ipv4: t.string({
      nullable: true,
      description: 'The IPv4 address virtplane gave this NIC (pinned in the network’s DHCP hosts).',
      resolve: (i, _args, ctx) => (i.mac ? (ctx.services.ipam.addressesOf(i.mac, i.hostId)?.ipv4 ?? null) : null),
    }),
    ipv4Assignment: t.field({
      type: Ipv4AssignmentEnum,
      nullable: true,
      description: 'How the IPv4 reaches the guest (null without an IPv4).',
      resolve: (i, _args, ctx) => (i.mac ? (ctx.services.ipam.addressesOf(i.mac, i.hostId)?.ipv4Assignment ?? null) : null),
    }),
    ipv6: t.string({
      nullable: true,
      description:
        'The IPv6 address virtplane gave this NIC; the anti-spoofing filter lets it (and link-local fe80::/10) through, no other.',
      resolve: (i, _args, ctx) => (i.mac ? (ctx.services.ipam.addressesOf(i.mac, i.hostId)?.ipv6 ?? null) : null),
    }),
    ipv6Assignment: t.field({
      type: Ipv6AssignmentEnum,
      nullable: true,
      description: 'How the IPv6 reaches the guest (null without an IPv6).',
      resolve: (i, _args, ctx) => (i.mac ? (ctx.services.ipam.addressesOf(i.mac, i.hostId)?.ipv6Assignment ?? null) : null),
    }),
  }),
});

export const DomainDiskRef = builder.objectRef<DomainDisk>('DomainDisk').implement({
  fields: (t) => ({
    target: t.exposeString('target', { description: 'Guest device name, e.g. vda.' }),
    device: t.exposeString('device', { description: 'disk, cdrom, floppy or lun.' }),
    source: t.string({
      nullable: true,
      description: "The storage volume's name; a host path (e.g. a CD-ROM's ISO file) only for admins, null for others.",
      resolve: (d, _args, ctx) => ctx.services.domains.diskSource(ctx.viewer, d),
    }),
    capacityBytes: t.float({ nullable: true, resolve: (d) => d.capacityBytes }),
    hasMedia: t.boolean({
      description:
        'Whether something is in it: false for an empty CD-ROM drive. True also when what a drive holds is no published image (`image` null), so it can be ejected.',
      resolve: (d) => d.source !== null || d.volume !== null,
    }),
  }),
});

const DomainGraphicsRef = builder.objectRef<DomainGraphics>('DomainGraphics').implement({
  fields: (t) => ({
    type: t.exposeString('type', { description: 'SPICE or VNC.' }),
    listen: t.exposeString('listen', { nullable: true }),
    port: t.exposeInt('port', { nullable: true }),
  }),
});

export const DomainRef = builder.node(builder.objectRef<DomainRecord>('Domain'), {
  description: 'A libvirt domain (virtual machine).',
  id: { resolve: (d, _a, ctx) => ctx.services.domains.keyOf(d) },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'vcpus' in value && 'disks' in value,
  loadOne: (uuid, ctx) => ctx.services.domains.find(ctx.viewer, uuid),
  fields: (t) => ({
    uuid: t.exposeString('uuid'),
    name: t.string({ description: 'The name its owner gave it; unique among the owner’s domains.', resolve: (d) => shownName(d) }),
    libvirtName: t.string({
      nullable: true,
      description:
        'Admins: its name in libvirt (`virsh`). The same as `name`, unless another domain already had that name in libvirt when it was created: then `<name>+<8 hex of its uuid>`. Null for tenants.',
      resolve: (d, _args, ctx) => (ctx.viewer.role === 'ADMIN' ? d.name : null),
    }),
    state: t.field({ type: DomainStateEnum, resolve: (d) => d.state }),
    stateReason: t.exposeString('stateReason', { description: "libvirt's reason for the state, e.g. BOOTED, DESTROYED." }),
    vcpus: t.exposeInt('vcpus'),
    memoryMiB: t.exposeInt('memoryMiB'),
    persistent: t.exposeBoolean('persistent'),
    autostart: t.exposeBoolean('autostart'),
    interfaces: t.field({ type: [DomainInterfaceRef], resolve: (d) => d.interfaces.map((i) => ({ ...i, hostId: d.hostId })) }),
    disks: t.field({ type: [DomainDiskRef], resolve: (d) => d.disks }),
    graphics: t.field({ type: [DomainGraphicsRef], resolve: (d) => d.graphics }),
    owner: t.field({
      type: UserRef,
      nullable: true,
      description: 'Who owns the domain (null when nobody does; admins only see other users).',
      resolve: (d, _a, ctx) => {
        const owner = ctx.services.access.shownOwner(d);
        return owner ? ctx.services.users.find(ctx.viewer, owner) : null;
      },
    }),
    host: t.field({
      type: HostRef,
      nullable: true,
      description: 'The host the domain is on (admins only; null for tenants).',
      resolve: (d, _a, ctx) => ctx.services.hosts.ofObject(ctx.viewer, d),
    }),
  }),
});

NetworkLeaseRef.implement({
  description: 'The addresses virtplane gave one NIC on a network.',
  fields: (t) => ({
    mac: t.exposeString('mac'),
    ipv4: t.exposeString('ipv4', { nullable: true }),
    ipv4Assignment: t.field({ type: Ipv4AssignmentEnum, nullable: true, resolve: (l) => l.ipv4Assignment }),
    ipv6: t.exposeString('ipv6', { nullable: true }),
    ipv6Assignment: t.field({ type: Ipv6AssignmentEnum, nullable: true, resolve: (l) => l.ipv6Assignment }),
    pinned: t.exposeBoolean('pinned', { description: 'Whether the IPv4 is pinned as a DHCP host of the network.' }),
    domain: t.field({ type: DomainRef, nullable: true, resolve: (l) => l.domain }),
  }),
});

const DomainFilterInput = builder.inputType('DomainFilter', {
  fields: (t) => ({
    state: t.field({ type: DomainStateEnum, required: false }),
    nameContains: t.string({ required: false }),
  }),
});

builder.queryField('domains', (t) =>
  t.connection(
    {
      type: DomainRef,
      description: 'Domains visible to you, ordered by name.',
      args: { filter: t.arg({ type: DomainFilterInput, required: false }) },
      resolve: (_root, args, ctx) =>
        connectionFromSorted(ctx.services.domains.list(ctx.viewer, args.filter ?? {}), args, (d) => [
          shownName(d),
          ctx.services.domains.keyOf(d),
        ]),
    },
    countedConnection('DomainConnection'),
    { name: 'DomainEdge' },
  ),
);

const ACTIONS = {
  startDomain: ['create', 'Starts (boots) a defined domain.'],
  shutdownDomain: ['shutdown', 'Asks the guest to shut down (ACPI).'],
  destroyDomain: ['destroy', 'Forces the domain off at once.'],
  rebootDomain: ['reboot', 'Asks the guest to reboot.'],
  resetDomain: ['reset', 'Resets the domain like a hardware reset button.'],
  suspendDomain: ['suspend', 'Pauses the domain’s vCPUs.'],
  resumeDomain: ['resume', 'Resumes a paused domain.'],
} as const;

for (const [field, [action, description]] of Object.entries(ACTIONS)) {
  builder.mutationField(field, (t) =>
    t.field({
      type: DomainRef,
      description,
      args: { id: t.arg.id({ required: true }) },
      errors: {
        types: DOMAIN_ACTION_ERRORS,
        result: { name: 'DomainActionSuccess' },
        union: { name: 'DomainActionResult' },
        dataField: { name: 'domain' },
      },
      resolve: (_root, args, ctx) => ctx.services.domains.act(ctx.viewer, localId(String(args.id), 'Domain'), action),
    }),
  );
}

const CreateDomainInput = builder.inputType('CreateDomainInput', {
  fields: (t) => ({
    name: t.string({
      required: true,
      description: 'Its name: 1-64 letters, digits, ".", "_", "-"; unique among your domains (CONFLICT), whatever other users call theirs.',
    }),
    vcpus: t.int({ required: true }),
    memoryMiB: t.int({ required: true }),
    diskGiB: t.int({ required: true }),
    network: t.string({ required: true, description: 'Name of the libvirt network the NIC joins.' }),
    installImage: t.string({ required: false, description: 'Name of an install image (see `images`), put into the CD-ROM drive.' }),
    start: t.boolean({ required: false, description: 'Start the domain once it is defined (default false).' }),
    nestedVirt: t.boolean({
      required: false,
      description: "Pass the host CPU's virtualization extensions through (host-passthrough); needs domainType kvm.",
    }),
    graphics: t.field({
      type: GraphicsTypeEnum,
      required: false,
      description: 'Console type (default VNC), on 127.0.0.1 with a generated password.',
    }),
    host: t.id({
      required: false,
      description:
        "Admins: the host to create it on (a Host ID, see `hosts`); placement then only confirms that host (NO_HOST_AVAILABLE when it is draining or has no room). Without it, placement picks one. NOT_FOUND for a host this server does not serve, and for tenants: hosts are admins' objects.",
    }),
  }),
});

const ResizeDomainInput = builder.inputType('ResizeDomainInput', {
  fields: (t) => ({
    vcpus: t.int({ required: false }),
    memoryMiB: t.int({ required: false }),
    diskGiB: t.int({ required: false, description: 'New size of the first disk; disks only grow.' }),
  }),
});

const domainTarget = (_args: unknown, result: unknown, ctx: Context) =>
  result && typeof result === 'object' && 'vcpus' in result
    ? encodeGlobalID('Domain', ctx.services.domains.keyOf(result as DomainRecord))
    : null;

builder.mutationField('createDomain', (t) =>
  t.field({
    type: DomainRef,
    description:
      'Creates a domain owned by you: reserves its resources against your quota, gives its NIC a MAC and addresses on `network`, creates its disk in the storage pool, defines it (and starts it with `start`). A failure leaves nothing behind.',
    args: { input: t.arg({ type: CreateDomainInput, required: true }) },
    extensions: { auditTarget: domainTarget },
    errors: {
      types: CREATE_DOMAIN_ERRORS,
      result: { name: 'CreateDomainSuccess' },
      union: { name: 'CreateDomainResult' },
      dataField: { name: 'domain' },
    },
    resolve: (_root, args, ctx) =>
      ctx.services.provisioning.create(ctx.viewer, {
        ...args.input,
        host: args.input.host == null ? null : localId(String(args.input.host), 'Host'),
      }),
  }),
);

builder.mutationField('deleteDomain', (t) =>
  t.field({
    type: DomainRef,
    description:
      'Stops and undefines a domain, deletes its disk volume (unless keepDisk), and releases its addresses, MAC and quota. Answers with its last state.',
    args: { id: t.arg.id({ required: true }), keepDisk: t.arg.boolean({ required: false, defaultValue: false }) },
    errors: {
      types: DOMAIN_ACTION_ERRORS,
      result: { name: 'DeleteDomainSuccess' },
      union: { name: 'DeleteDomainResult' },
      dataField: { name: 'domain' },
    },
    resolve: (_root, args, ctx) => ctx.services.provisioning.delete(ctx.viewer, localId(String(args.id), 'Domain'), args.keepDisk ?? false),
  }),
);

builder.mutationField('resizeDomain', (t) =>
  t.field({
    type: DomainRef,
    description: 'Changes vCPUs, memory and disk size of a stopped domain (INVALID_STATE otherwise), within your quota. Disks only grow.',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: ResizeDomainInput, required: true }) },
    errors: {
      types: RESIZE_DOMAIN_ERRORS,
      result: { name: 'ResizeDomainSuccess' },
      union: { name: 'ResizeDomainResult' },
      dataField: { name: 'domain' },
    },
    resolve: (_root, args, ctx) => ctx.services.provisioning.resize(ctx.viewer, localId(String(args.id), 'Domain'), args.input),
  }),
);

builder.mutationField('assignDomain', (t) =>
  t.field({
    type: DomainRef,
    description: "Admins: gives a domain (e.g. one defined outside virtplane) to a user; its resources count against that user's quota.",
    args: { id: t.arg.id({ required: true }), userId: t.arg.id({ required: true }) },
    errors: {
      types: DOMAIN_ACTION_ERRORS,
      result: { name: 'AssignDomainSuccess' },
      union: { name: 'AssignDomainResult' },
      dataField: { name: 'domain' },
    },
    resolve: (_root, args, ctx) =>
      ctx.services.provisioning.assign(ctx.viewer, localId(String(args.id), 'Domain'), localId(String(args.userId), 'User')),
  }),
);
