import type { DomainDisk, DomainRecord } from '../../model/index.js';
import { shownName } from '../../model/index.js';
import type { Viewer } from '../access/index.js';
import type { DomainAction, DomainFilter } from '../domains/index.js';
import { NotFoundError, UnsupportedError } from '../errors.js';
import type { HostedKey } from './keys.js';
import type { ServedHosts } from './served.js';

/** The domains of every served host as one: lists merged, each domain reached on its own host by its key. */
export class FleetDomains {
  constructor(private readonly served: ServedHosts) {}

  keyOf(d: { uuid: string; hostId?: number }): string {
    return this.served.keys.keyOf(d);
  }

  /** The host and UUID a key names (host -1: none served here). */
  locate(key: string): HostedKey {
    return this.served.keys.parse(key);
  }

  /** Visible domains in connection order (name, then key). */
  list(viewer: Viewer, filter: DomainFilter = {}): readonly DomainRecord[] {
    return this.served.merged((m) => m.domains.list(viewer, filter), shownName);
  }

  find(viewer: Viewer, key: string): DomainRecord | null {
    const at = this.served.locate(key);
    return at ? at.member.domains.find(viewer, at.uuid) : null;
  }

  act(viewer: Viewer, key: string, action: DomainAction): Promise<DomainRecord> {
    const at = this.served.locate(key);
    if (!at) return Promise.reject(new NotFoundError('domain', key));
    return at.member.domains.act(viewer, at.uuid, action);
  }

  /**
   * A key for what only the local host serves yet (consoles, media, port forwards): UNSUPPORTED for a domain
   * the viewer sees on another host; any other key is handed on as it is, so the local service answers it
   * (NOT_FOUND for one it does not have).
   */
  onLocalHost(viewer: Viewer, key: string): string {
    const at = this.served.locate(key);
    if (at && at.member !== this.served.local && at.member.domains.find(viewer, at.uuid)) {
      throw new UnsupportedError(
        'consoles, media and port forwards are served for the guests of the host the server runs beside only; this domain is on another host',
      );
    }
    return key;
  }

  diskSource(viewer: Viewer, disk: DomainDisk): string | null {
    return this.served.local.domains.diskSource(viewer, disk);
  }
}
