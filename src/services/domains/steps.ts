import type { DomainRecord } from '../../model/index.js';
import { LibvirtError } from '../../libvirt/errors.js';
import type { Resources } from '../access/index.js';
import { GiB } from './options.js';

/** A stopped domain known only by UUID and name. */
export function stubOf(uuid: string, name: string): DomainRecord {
  return {
    uuid,
    name,
    path: '',
    state: 'SHUTOFF',
    stateReason: 'UNKNOWN',
    active: false,
    persistent: false,
    autostart: false,
    vcpus: 0,
    memoryMiB: 0,
    interfaces: [],
    disks: [],
    graphics: [],
    metadata: { ownerId: null },
  };
}

export function resourcesOf(d: DomainRecord): Resources {
  const diskBytes = d.disks.reduce((sum, disk) => sum + (disk.capacityBytes ?? 0), 0);
  return { vcpus: d.vcpus, memoryMiB: d.memoryMiB, diskGiB: Math.ceil(diskBytes / GiB), interfaces: d.interfaces.length };
}

/** A catch handler that swallows libvirt errors of the given kinds (the step's goal is already reached). */
export function ignoreKinds(...kinds: LibvirtError['kind'][]): (err: unknown) => void {
  return (err) => {
    if (err instanceof LibvirtError && kinds.includes(err.kind)) return;
    throw err;
  };
}
