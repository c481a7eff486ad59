import { XMLBuilder } from 'fast-xml-parser';
import { ATTR } from './parser.js';
import { METADATA_NAMESPACE, METADATA_PREFIX } from './domain.js';

/**
 * XML we hand to libvirt, built as objects and serialised by fast-xml-parser's XMLBuilder, which escapes
 * text and attribute values (names, owners and network names never reach libvirt as raw markup).
 */
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  suppressEmptyNode: true,
  processEntities: true,
  format: false,
});

export interface DomainSpec {
  uuid: string;
  name: string;
  /** libvirt domain type: `test` on the test driver, `qemu` (TCG) or `kvm` on QEMU. */
  virtType: string;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  /** libvirt network the single NIC joins. */
  network: string;
  ownerId: string;
}

const p = (name: string) => `${METADATA_PREFIX}:${name}`;

/** The body of our `<metadata>` element: the owner, and what the domain was created with. */
function instanceNode(ownerId: string, extra: Record<string, unknown> = {}) {
  return {
    [ATTR + `xmlns:${METADATA_PREFIX}`]: METADATA_NAMESPACE,
    [p('owner')]: { [ATTR + 'id']: ownerId },
    ...extra,
  };
}

/** Metadata element for `Domain.SetMetadata` (the key/namespace are passed separately to libvirt). */
export function buildOwnerMetadataXml(ownerId: string): string {
  return builder.build({ instance: { owner: { [ATTR + 'id']: ownerId } } }) as string;
}

/**
 * A minimal persistent domain: CPU, memory, one virtio NIC on a libvirt network (no option ROM, so it never
 * network-boots), boot from disk, owner in our metadata namespace. Disk volumes, install media and graphics
 * are added by the provisioning spec.
 */
export function buildDomainXml(spec: DomainSpec): string {
  return builder.build({
    domain: {
      [ATTR + 'type']: spec.virtType,
      name: spec.name,
      uuid: spec.uuid,
      metadata: {
        [p('instance')]: instanceNode(spec.ownerId, { [p('resources')]: { [ATTR + 'diskGiB']: String(spec.diskGiB) } }),
      },
      memory: { [ATTR + 'unit']: 'MiB', '#text': String(spec.memoryMiB) },
      currentMemory: { [ATTR + 'unit']: 'MiB', '#text': String(spec.memoryMiB) },
      vcpu: String(spec.vcpus),
      os: { type: { [ATTR + 'arch']: 'x86_64', '#text': 'hvm' }, boot: { [ATTR + 'dev']: 'hd' } },
      devices: {
        interface: {
          [ATTR + 'type']: 'network',
          source: { [ATTR + 'network']: spec.network },
          model: { [ATTR + 'type']: 'virtio' },
          rom: { [ATTR + 'enabled']: 'no' },
        },
      },
    },
  }) as string;
}
