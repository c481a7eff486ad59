import type { DomainRecord } from '../../model/index.js';
import type { Viewer } from '../access/index.js';
import type { CreateDomainInput, ResizeDomainInput } from '../domains/index.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Fleet } from './fleet.js';
import type { ServedHosts, ServedMember } from './served.js';

/** Provisioning over every served host: creates placed by the fleet, the rest on the domain's own host. */
export class FleetProvisioning {
  constructor(
    private readonly served: ServedHosts,
    private readonly fleet: Fleet,
  ) {}

  async create(viewer: Viewer, input: CreateDomainInput): Promise<DomainRecord> {
    return (await this.fleet.create(viewer, input)).domain;
  }

  delete(viewer: Viewer, key: string, keepDisk = false): Promise<DomainRecord> {
    return this.routed(viewer, key, (m, uuid) => m.provisioning.delete(viewer, uuid, keepDisk));
  }

  resize(viewer: Viewer, key: string, input: ResizeDomainInput): Promise<DomainRecord> {
    return this.routed(viewer, key, (m, uuid) => m.provisioning.resize(viewer, uuid, input));
  }

  assign(viewer: Viewer, key: string, userId: string): Promise<DomainRecord> {
    return this.routed(viewer, key, (m, uuid) => m.provisioning.assign(viewer, uuid, userId));
  }

  /** Told of every domain handed to another user, on any host (its key). */
  onAssigned(listener: (key: string) => void): void {
    for (const m of this.served.members) m.provisioning.onAssigned((uuid) => listener(this.served.keys.keyOf({ uuid, hostId: m.hostId })));
  }

  /**
   * Runs a change on the domain's own host. Owners, quota reservations, addresses and unfinished deletions
   * are still kept by UUID alone: a domain whose UUID another served host also has (a definition copied
   * between hosts, the test driver's built-in `test`) is neither deleted, resized nor handed on here, so what
   * one of them releases or takes never reaches the other.
   */
  private async routed(viewer: Viewer, key: string, run: (m: ServedMember, uuid: string) => Promise<DomainRecord>): Promise<DomainRecord> {
    const at = this.served.locate(key);
    if (!at) throw new NotFoundError('domain', key);
    // Told only to whom sees it; the host's own flow answers everyone else (NOT_FOUND).
    const twin = this.served.members.some((m) => m !== at.member && m.domains.has(at.uuid));
    if (twin && at.member.domains.find(viewer, at.uuid)) {
      throw new ConflictError(
        'another host has a domain of the same UUID: virtplane keeps owners, quotas and addresses by UUID, so neither is deleted, resized or handed on until one of them is gone (removed outside virtplane by an admin)',
      );
    }
    return run(at.member, at.uuid);
  }
}
