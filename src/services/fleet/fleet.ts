import type { DomainRecord } from '../../model/index.js';
import type { Viewer } from '../access/index.js';
import type { CreateDomainInput, ProvisioningService } from '../domains/index.js';
import { AddressExhaustedError, NoHostAvailableError, NotFoundError } from '../errors.js';
import type { HostRegistry } from '../hosts/index.js';
import type { NetworkService } from '../network/index.js';

/** What the fleet drives on one host: the services bound to that host's libvirt. */
export interface FleetMember {
  hostId: number;
  provisioning: ProvisioningService;
  networks: NetworkService;
}

/**
 * Creates over several hosts. Placement's order (`HostRegistry.candidates`: UP, not draining, with room, least
 * full) is tried host by host; each attempt is that host's own create, whose transaction reserves the quota
 * and confirms the host (`placeOn`), so the quota and every host's capacity stay exact however creates
 * interleave. A host without the network is skipped; one that has no room left by the time its transaction
 * runs, or no free address on the network, passes the create on to the next.
 */
export class Fleet {
  private readonly members: ReadonlyMap<number, FleetMember>;

  constructor(
    private readonly hosts: HostRegistry,
    members: readonly FleetMember[],
  ) {
    this.members = new Map(members.map((m) => [m.hostId, m]));
  }

  /** The member serving host `hostId` (for a domain known to be there). */
  member(hostId: number): FleetMember {
    const m = this.members.get(hostId);
    if (!m) throw new Error(`host ${hostId} is not served here`);
    return m;
  }

  async create(viewer: Viewer, input: CreateDomainInput): Promise<{ hostId: number; domain: DomainRecord }> {
    const order = this.hosts
      .candidates(viewer, { vcpus: input.vcpus, memoryMiB: input.memoryMiB })
      .map((id) => this.members.get(id))
      .filter((m): m is FleetMember => m !== undefined && m.networks.byName(input.network) !== undefined);
    if (order.length === 0) throw new NotFoundError('network', input.network);
    let passedOn: Error | null = null;
    for (const m of order) {
      try {
        return { hostId: m.hostId, domain: await m.provisioning.create(viewer, input) };
      } catch (err) {
        if (!(err instanceof NoHostAvailableError || err instanceof AddressExhaustedError)) throw err;
        passedOn = err;
      }
    }
    throw passedOn!;
  }
}
