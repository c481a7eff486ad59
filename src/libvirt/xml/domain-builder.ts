import type { DiskSource, DomainGraphicsSpec, DomainNicSpec, DomainSpec } from '../../model/index.js';
import { a, buildXml, xmlSafe, type XmlTree } from './builder.js';
import { METADATA_NAMESPACE, METADATA_PREFIX } from './domain.js';

export const CONSOLE_LISTEN_ADDRESS = '127.0.0.1';
export const CDROM_TARGET = 'sda';

/** Guest device names for virtio disks: vda … vdz. */
export function virtioTarget(index: number): string {
  if (index < 0 || index > 25) throw new RangeError('at most 26 virtio disks');
  return `vd${String.fromCharCode(97 + index)}`;
}

function sourceElement(source: DiskSource, what: string): XmlTree {
  switch (source.type) {
    case 'volume':
      return { [a('pool')]: xmlSafe(source.pool, `${what} pool`), [a('volume')]: xmlSafe(source.volume, `${what} volume`) };
    case 'file':
      return { [a('file')]: xmlSafe(source.path, `${what} path`) };
    case 'block':
      return { [a('dev')]: xmlSafe(source.path, `${what} path`) };
  }
}

/** The `<disk device='cdrom'>` element alone: used when defining and for UpdateDevice (insert/eject). */
export function cdromDiskTree(source: DiskSource | null, bootOrder?: number, target = { dev: CDROM_TARGET, bus: 'sata' }): XmlTree {
  return {
    [a('type')]: source?.type ?? 'file',
    [a('device')]: 'cdrom',
    driver: { [a('name')]: 'qemu', [a('type')]: 'raw' },
    source: source ? sourceElement(source, 'cdrom') : undefined,
    target: { [a('dev')]: xmlSafe(target.dev, 'cdrom target'), [a('bus')]: xmlSafe(target.bus, 'cdrom bus') },
    readonly: '',
    boot: bootOrder === undefined ? undefined : { [a('order')]: bootOrder },
  };
}

export function buildCdromXml(source: DiskSource | null, target?: { dev: string; bus: string }): string {
  return buildXml({ disk: cdromDiskTree(source, undefined, target) });
}

/** The `<graphics>` element alone: used when defining and for UpdateDevice (password rotation). */
export function graphicsTree(g: DomainGraphicsSpec): XmlTree {
  return {
    [a('type')]: g.type.toLowerCase(),
    [a('autoport')]: 'yes',
    [a('passwd')]: xmlSafe(g.password, 'graphics password'),
    listen: { [a('type')]: 'address', [a('address')]: CONSOLE_LISTEN_ADDRESS },
  };
}

export function buildGraphicsXml(g: DomainGraphicsSpec): string {
  return buildXml({ graphics: graphicsTree(g) });
}

function nicTree(nic: DomainNicSpec): XmlTree {
  return {
    [a('type')]: 'network',
    mac: { [a('address')]: xmlSafe(nic.mac, 'MAC address') },
    source: { [a('network')]: xmlSafe(nic.network, 'network name') },
    model: { [a('type')]: 'virtio' },
    filterref: nic.filterref
      ? {
          [a('filter')]: xmlSafe(nic.filterref.filter, 'filter name'),
          parameter: nic.filterref.parameters?.length
            ? nic.filterref.parameters.map((p) => ({
                [a('name')]: xmlSafe(p.name, 'filter parameter'),
                [a('value')]: xmlSafe(p.value, 'filter parameter'),
              }))
            : undefined,
        }
      : undefined,
    // No option ROM: the guest cannot boot from this NIC (no PXE), whatever the boot order says.
    rom: { [a('enabled')]: 'no' },
  };
}

/**
 * The body of virtplane's `<metadata>` element: the owner. Inside a definition it carries our prefix and
 * namespace; for `Domain.SetMetadata` it is bare (libvirt adds prefix and namespace from the call's arguments).
 */
function instanceTree(ownerId: string, prefix: string | null, tenantName?: string | null): XmlTree {
  const n = (name: string) => (prefix ? `${prefix}:${name}` : name);
  return {
    [a(`xmlns:${prefix}`)]: prefix ? METADATA_NAMESPACE : undefined,
    [n('owner')]: { [a('id')]: xmlSafe(ownerId, 'owner id') },
    [n('name')]: tenantName ? xmlSafe(tenantName, 'name') : undefined,
  };
}

/** The metadata element `setDomainOwner` hands to `Domain.SetMetadata` (it replaces the whole element: the name goes with it). */
export function buildOwnerMetadataXml(ownerId: string, tenantName?: string | null): string {
  return buildXml({ instance: instanceTree(ownerId, null, tenantName) });
}

export function buildDomainXml(spec: DomainSpec): string {
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1) throw new RangeError('vcpus must be a positive integer');
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 1) throw new RangeError('memoryMiB must be a positive integer');
  const disks: XmlTree[] = spec.disks.map((d, i) => ({
    [a('type')]: d.source.type,
    [a('device')]: 'disk',
    driver: { [a('name')]: 'qemu', [a('type')]: d.format },
    source: sourceElement(d.source, 'disk'),
    target: { [a('dev')]: virtioTarget(i), [a('bus')]: 'virtio' },
    boot: { [a('order')]: i + 1 },
  }));
  if (spec.cdrom) disks.push(cdromDiskTree(spec.cdrom.source, spec.disks.length + 1));

  const serialSource = (path: string | undefined): XmlTree =>
    path === undefined
      ? { [a('type')]: 'pty' }
      : { [a('type')]: 'unix', source: { [a('mode')]: 'bind', [a('path')]: xmlSafe(path, 'serial socket path') } };
  const domain: XmlTree = {
    [a('type')]: spec.type,
    name: xmlSafe(spec.name, 'name'),
    uuid: spec.uuid === undefined ? undefined : xmlSafe(spec.uuid, 'uuid'),
    title: spec.title === undefined ? undefined : xmlSafe(spec.title, 'title'),
    metadata: { [`${METADATA_PREFIX}:instance`]: instanceTree(spec.ownerId, METADATA_PREFIX, spec.tenantName) },
    memory: { [a('unit')]: 'MiB', '#text': spec.memoryMiB },
    currentMemory: { [a('unit')]: 'MiB', '#text': spec.memoryMiB },
    vcpu: { [a('placement')]: 'static', '#text': spec.vcpus },
    resource: spec.partition === undefined ? undefined : { partition: xmlSafe(spec.partition, 'partition') },
    os: { type: { [a('arch')]: 'x86_64', '#text': 'hvm' } },
    features: { acpi: '', apic: '' },
    cpu: { [a('mode')]: spec.cpuMode ?? 'host-model' },
    clock: { [a('offset')]: 'utc' },
    on_poweroff: 'destroy',
    on_reboot: 'restart',
    on_crash: 'restart',
    devices: {
      disk: disks.length ? disks : undefined,
      interface: spec.interfaces.length ? spec.interfaces.map(nicTree) : undefined,
      serial: { ...serialSource(spec.serialSocket), target: { [a('port')]: 0 } },
      console: { ...serialSource(spec.serialSocket), target: { [a('type')]: 'serial', [a('port')]: 0 } },
      graphics: spec.graphics ? graphicsTree(spec.graphics) : undefined,
    },
  };
  return buildXml({ domain });
}
