import type { DomainRecord } from '../../model/index.js';
import { isAdmin, type Viewer } from '../access/index.js';
import type { CreateDomainInput, ProvisioningService } from '../domains/index.js';
import { AddressExhaustedError, ConflictError, NoHostAvailableError, QuotaExceededError } from '../errors.js';
import type { HostRegistry } from '../hosts/index.js';
import type { NetworkService } from '../network/index.js';

/** What the fleet drives on one host: the services bound to that host's libvirt. */
export interface FleetMember {
  hostId: number;
  provisioning: ProvisioningService;
  networks: NetworkService;
}

/** Refusals that are the same on every host: the first is the answer, no other host is tried. */
const everywhere = (err: unknown) => err instanceof QuotaExceededError || err instanceof ConflictError;

/** Refusals of placement: the next host may have the room or the address. */
const placement = (err: unknown) => err instanceof NoHostAvailableError || err instanceof AddressExhaustedError;

/**
 * Creates over several hosts. Placement's order (`HostRegistry.candidates`: UP, not draining, with room, least
 * full) is tried host by host, skipping hosts without the network; each attempt is that host's own create,
 * whose transaction reserves the quota and confirms the host (`placeOn`), so the quota and every host's
 * capacity stay exact however creates interleave. A tenant's names are unique across hosts: an attempt holds
 * the name on every other host. Answers as one host does, in its order — the input, then the quota, then
 * placement — whatever the hosts: with no host to try (all draining, or none with the network) one host's
 * create still runs and answers.
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
    const refusals: Error[] = [];
    const { members, closed } = this.order(viewer, input);
    for (const m of members) {
      try {
        return { hostId: m.hostId, domain: await this.createOn(m, viewer, input) };
      } catch (err) {
        if (everywhere(err)) throw err;
        refusals.push(err as Error);
      }
    }
    // A refusal of this host's own making (its size bounds, its images, its domain type) says more than room.
    const own = refusals.find((e) => !placement(e));
    if (own) throw own;
    if (closed) throw closed; // every host draining: said of all of them

    if (refusals.every((e) => e instanceof AddressExhaustedError) || !isAdmin(viewer)) throw refusals[0]!;
    throw new NoHostAvailableError(refusals.map((e) => e.message).join('; '));
  }

  /**
   * The members to try: the candidates that have the network. None: the one whose create says why — a host
   * that has the network but takes no guest now (its placement refuses, after the quota), else the first
   * host (its validation: no such network). `closed`: why no host is a candidate (all draining).
   */
  private order(viewer: Viewer, input: CreateDomainInput): { members: FleetMember[]; closed: NoHostAvailableError | null } {
    const all = [...this.members.values()];
    // A host named: its create alone (which answers NOT_FOUND for a host it is not, or for a tenant).
    if (input.host != null) return { members: [all.find((m) => String(m.hostId) === input.host) ?? all[0]!], closed: null };
    const hasNetwork = (m: FleetMember) => m.networks.byName(input.network) !== undefined;
    let ranked: FleetMember[] = [];
    let closed: NoHostAvailableError | null = null;
    try {
      ranked = this.hosts
        .candidates(viewer, { vcpus: input.vcpus, memoryMiB: input.memoryMiB })
        .map((id) => this.members.get(id))
        .filter((m): m is FleetMember => m !== undefined);
    } catch (err) {
      if (!(err instanceof NoHostAvailableError)) throw err;
      closed = err;
    }
    const tried = ranked.filter(hasNetwork);
    return { members: tried.length ? tried : [all.find(hasNetwork) ?? ranked[0] ?? all[0]!], closed };
  }

  /** One host's create, the name held on every other host while it runs. */
  private async createOn(m: FleetMember, viewer: Viewer, input: CreateDomainInput): Promise<DomainRecord> {
    const releases: (() => void)[] = [];
    try {
      for (const other of this.members.values()) if (other !== m) releases.push(other.provisioning.holdName(viewer.userId, input.name));
      return await m.provisioning.create(viewer, input);
    } finally {
      for (const release of releases) release();
    }
  }
}
