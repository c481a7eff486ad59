import type { DomainRecord } from '../../model/index.js';
import type { Viewer } from '../access/index.js';
import type { CreateDomainInput, ResizeDomainInput } from '../domains/index.js';
import { NotFoundError } from '../errors.js';
import type { Fleet } from './fleet.js';
import type { ServedHosts } from './served.js';

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
    return this.routed(key, (m, uuid) => m.provisioning.delete(viewer, uuid, keepDisk));
  }

  resize(viewer: Viewer, key: string, input: ResizeDomainInput): Promise<DomainRecord> {
    return this.routed(key, (m, uuid) => m.provisioning.resize(viewer, uuid, input));
  }

  assign(viewer: Viewer, key: string, userId: string): Promise<DomainRecord> {
    return this.routed(key, (m, uuid) => m.provisioning.assign(viewer, uuid, userId));
  }

  /** Told of every domain handed to another user, on any host (its key). */
  onAssigned(listener: (key: string) => void): void {
    for (const m of this.served.members) m.provisioning.onAssigned((uuid) => listener(this.served.keys.keyOf({ uuid, hostId: m.hostId })));
  }

  private async routed(
    key: string,
    run: (m: ServedHosts['members'][number], uuid: string) => Promise<DomainRecord>,
  ): Promise<DomainRecord> {
    const at = this.served.locate(key);
    if (!at) throw new NotFoundError('domain', key);
    return run(at.member, at.uuid);
  }
}
