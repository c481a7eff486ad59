import type { NetworkRecord } from '../../model/index.js';
import type { Viewer } from '../access/index.js';
import type { Lease, NicAddresses } from '../network/index.js';
import type { ServedHosts } from './served.js';

/** Addresses as the API reads them, each on its host: a network's leases and room, a NIC's addresses. */
export class FleetAddresses {
  constructor(private readonly served: ServedHosts) {}

  /** The addresses of a NIC of a domain on host `hostId` (unmarked: the local host). */
  addressesOf(mac: string, hostId?: number): NicAddresses | null {
    return this.served.of({ hostId })?.ipam.addressesOf(mac) ?? null;
  }

  /** A network's leases; none shown for a network of a host no longer served (an event's record). */
  leases(viewer: Viewer, n: NetworkRecord): Lease[] {
    return this.served.of(n)?.ipam.leases(viewer, n.uuid) ?? [];
  }

  freeIpv4(viewer: Viewer, n: NetworkRecord): number | null {
    return this.served.of(n)?.ipam.freeIpv4(viewer, n) ?? null;
  }
}
