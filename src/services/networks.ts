import type { NetworkRecord } from '../libvirt/types.js';
import type { AccessPolicy } from './authorization.js';
import { NotFoundError } from './errors.js';
import type { StateCache } from './state-cache.js';
import type { Viewer } from './viewer.js';

/** Networks as libvirt has them. Every viewer may read them: tenants pick one for their NICs. */
export class NetworkService {
  constructor(
    private readonly cache: StateCache,
    private readonly access: AccessPolicy,
  ) {}

  list(_viewer: Viewer): readonly NetworkRecord[] {
    return this.cache.sortedNetworks();
  }

  get(_viewer: Viewer, uuid: string): NetworkRecord {
    const n = this.cache.networks.get(uuid);
    if (!n) throw new NotFoundError('network', uuid);
    return n;
  }

  find(_viewer: Viewer, uuid: string): NetworkRecord | null {
    return this.cache.networks.get(uuid) ?? null;
  }

  byName(name: string): NetworkRecord | undefined {
    for (const n of this.cache.networks.values()) if (n.name === name) return n;
    return undefined;
  }
}
