import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/index.js';
import { InstanceStore } from '../../db/stores/instance.js';

/** Names of host-wide objects (storage pool, nftables table, nwfilters) that belong to this installation. */
export interface InstanceNames {
  instanceId: string;
  storagePool: string;
  nftTable: string;
  /** Every nwfilter of this installation is named `<prefix>…`. */
  nwfilterPrefix: string;
}

/** What installations made before instance ids used, and keep: their pool, table and filters exist under these. */
export const LEGACY_NAMES: Omit<InstanceNames, 'instanceId'> = {
  storagePool: 'virtplane',
  nftTable: 'virtplane',
  nwfilterPrefix: 'virtplane-',
};

export type HostObjectKind = 'storage-pool' | 'network';

/** The installation's identity on the host, and the host-wide objects it made. */
export class HostObjects {
  private readonly store: InstanceStore;

  constructor(db: Db) {
    this.store = new InstanceStore(db);
  }

  /**
   * This installation's names, chosen on its first start and kept in its database. A database that already
   * had users when the names were first asked for is an installation from before instance ids: it keeps the
   * names it has been using.
   */
  names(): InstanceNames {
    return this.store.names((hasUsers) => {
      const instanceId = randomBytes(4).toString('hex');
      return hasUsers
        ? { instanceId, ...LEGACY_NAMES }
        : {
            instanceId,
            storagePool: `virtplane-${instanceId}`,
            nftTable: `virtplane_${instanceId}`,
            nwfilterPrefix: `virtplane-${instanceId}-`,
          };
    });
  }

  /** Records that virtplane is about to create `name`; call before the creation, so no object lacks its record. */
  record(kind: HostObjectKind, name: string): void {
    this.store.recordHostObject(kind, name);
  }

  forget(kind: HostObjectKind, name: string): void {
    this.store.forgetHostObject(kind, name);
  }

  list(kind: HostObjectKind): string[] {
    return this.store.hostObjects(kind);
  }
}
