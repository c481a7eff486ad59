import { type DomainRecord, shownName, type UsageMeter } from '../../model/index.js';
import type { Metered } from '../../db/stores/usage.js';

/**
 * What a domain is metered by, or null once it no longer exists. A running or paused instance holds its
 * vCPUs and memory (a paused guest's memory stays allocated); its volumes are held as long as it is defined.
 * A stopped domain that is not persistent is gone (libvirt drops a transient domain when it stops); an
 * undefined one that still runs lives on as a transient domain and is metered on.
 */
export function meterOf(d: DomainRecord, undefinedNow: boolean): UsageMeter | null {
  if (!d.active && (undefinedNow || !d.persistent)) return null;
  let diskBytes = 0;
  for (const disk of d.disks) if (disk.device === 'disk') diskBytes += disk.capacityBytes ?? 0;
  return { running: d.active, vcpus: d.vcpus, memoryMiB: d.memoryMiB, diskBytes };
}

/** A domain (of host `hostId`) as the usage periods record it. */
export function metered(hostId: number, d: DomainRecord, ownerId: string | null, undefinedNow = false): Metered {
  return { hostId, domainUuid: d.uuid, name: shownName(d), ownerId, meter: meterOf(d, undefinedNow) };
}
