import type { HostView } from '../services/instance/index.js';
import { builder } from './builder.js';

const HostRef = builder.objectRef<HostView>('Host').implement({
  description: 'The libvirt host this server manages.',
  fields: (t) => ({
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
    cpus: t.exposeInt('cpus'),
    memoryMiB: t.exposeInt('memoryMiB'),
    stale: t.exposeBoolean('stale', { description: 'True while libvirt is unreachable and answers come from the last known state.' }),
  }),
});

builder.queryField('host', (t) => t.field({ type: HostRef, resolve: (_root, _args, ctx) => ctx.services.host.info() }));
