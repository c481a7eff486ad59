import type { Host, HostCapacity, HostUse } from '../services/hosts/index.js';
import { builder } from './builder.js';
import { connectionFromSorted, countedConnection } from './connection.js';
import { ADMIN_ERRORS } from './errors.js';
import { localId } from './ids.js';

export const HostStateEnum = builder.enumType('HostState', {
  description: 'Whether a host takes new guests.',
  values: {
    UP: { description: 'libvirt answers; new guests may be placed here.' },
    DOWN: {
      description:
        'libvirt cannot be reached: answers about its guests come from their last known state; creates placed here fail with LIBVIRT_UNAVAILABLE and leave nothing.',
    },
    DRAINING: { description: 'An admin stopped placement here (setHostDraining); guests already here are untouched.' },
  } as const,
});

const HostUseRef = builder.objectRef<HostUse>('HostUse').implement({
  description:
    "What the guests on a host hold: every domain libvirt has there, running or not, any owner's, and the creates under way. Placement compares it with capacity.",
  fields: (t) => ({
    domains: t.exposeInt('domains'),
    activeDomains: t.exposeInt('activeDomains', { description: 'Domains running (or paused) now.' }),
    vcpus: t.exposeInt('vcpus', { description: 'Virtual CPUs of all its domains.' }),
    memoryMiB: t.exposeInt('memoryMiB', { description: 'Memory of all its domains.' }),
  }),
});

const HostCapacityRef = builder.objectRef<HostCapacity>('HostCapacity').implement({
  description:
    'What placement hands out on a host at most: its CPUs and memory times VIRTPLANE_CPU_ALLOCATION_RATIO and VIRTPLANE_MEMORY_ALLOCATION_RATIO; null where the ratio is not set (not limited).',
  fields: (t) => ({
    vcpus: t.exposeInt('vcpus', { nullable: true }),
    memoryMiB: t.exposeInt('memoryMiB', { nullable: true }),
  }),
});

export const HostRef = builder.node(builder.objectRef<Host>('Host'), {
  description: 'A hypervisor host: a libvirt that this server places guests on.',
  id: { resolve: (h) => h.id },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'libvirtVersion' in v && 'draining' in v,
  loadOne: (id, ctx) => ctx.services.hosts.find(ctx.viewer, id),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique among hosts; the first host is named after its hostname at the first start.' }),
    state: t.field({ type: HostStateEnum, resolve: (h) => h.state }),
    draining: t.exposeBoolean('draining', { description: 'Set by setHostDraining; kept while the host is DOWN.' }),
    capacity: t.field({ type: HostCapacityRef, resolve: (h) => h.capacity }),
    use: t.field({
      type: HostUseRef,
      nullable: true,
      description: 'Admins only (null for tenants).',
      resolve: (h, _a, ctx) => ctx.services.hosts.useOf(ctx.viewer, h.id),
    }),
    hostname: t.exposeString('hostname'),
    libvirtVersion: t.exposeString('libvirtVersion'),
    driver: t.exposeString('driver', { description: 'libvirt driver behind libvirt-dbus: Test or QEMU.' }),
    domainType: t.exposeString('domainType', {
      description: 'libvirt domain type of the guests createDomain makes: kvm, qemu (TCG, no /dev/kvm) or test (Test driver).',
    }),
    domainTypeReason: t.exposeString('domainTypeReason', {
      description:
        'Why domainType is what it is, decided at start-up: "configured (VIRTPLANE_DOMAIN_TYPE)", "kvm not offered by libvirt", "kvm probe failed: <libvirt and QEMU\'s message>" (a throwaway guest of the template\'s CPU mode did not start under KVM), or that the probe started one.',
    }),
    cpus: t.exposeInt('cpus', { description: "The host's CPUs, as libvirt reports them." }),
    memoryMiB: t.exposeInt('memoryMiB', { description: "The host's memory, as libvirt reports it." }),
    stale: t.exposeBoolean('stale', { description: 'True while libvirt is unreachable and answers come from the last known state.' }),
  }),
});

builder.queryField('host', (t) =>
  t.field({
    type: HostRef,
    description: 'The host this server runs beside, for every user (tenants: without its use).',
    resolve: (_root, _args, ctx) => ctx.services.hosts.local(),
  }),
);

builder.queryField('hosts', (t) =>
  t.connection(
    {
      type: HostRef,
      description: 'The hosts guests are placed on, by name (admins only; FORBIDDEN otherwise).',
      resolve: (_r, args, ctx) => connectionFromSorted(ctx.services.hosts.list(ctx.viewer), args, (h) => [h.name, h.id]),
    },
    countedConnection('HostConnection'),
    { name: 'HostEdge' },
  ),
);

builder.mutationField('setHostDraining', (t) =>
  t.field({
    type: HostRef,
    description:
      'Admins: `draining: true` stops placing new guests on the host (createDomain answers NO_HOST_AVAILABLE when no other host takes them); guests already there keep running. `false` resumes placement.',
    args: { id: t.arg.id({ required: true }), draining: t.arg.boolean({ required: true }) },
    extensions: { auditTarget: (args: { id: string }) => args.id },
    errors: {
      types: ADMIN_ERRORS,
      result: { name: 'SetHostDrainingSuccess' },
      union: { name: 'SetHostDrainingResult' },
      dataField: { name: 'host' },
    },
    resolve: (_r, args, ctx) => ctx.services.hosts.setDraining(ctx.viewer, localId(String(args.id), 'Host'), args.draining),
  }),
);
