import { type DomainRecord, isSnapshot } from '../../model/index.js';
import { ForbiddenError } from '../errors.js';
import type { OwnershipStore } from '../../db/stores/ownership.js';
import { isAdmin, type Viewer } from './viewer.js';

/**
 * The one rule of tenant isolation: admins see every domain; a tenant sees only the domains it owns.
 * Everything that lists, loads, mutates or streams a domain asks here, and a domain the viewer may not see
 * is treated exactly like one that does not exist.
 *
 * Ownership comes from SQLite first; the owner written into the domain's own libvirt `<metadata>` is the
 * fallback (and what start-up reconciliation rebuilds SQLite from when a row is missing). Domains with
 * neither are visible to admins only.
 */
export class AccessPolicy {
  constructor(private readonly owners: OwnershipStore) {}

  ownerOf(domain: DomainRecord): string | null {
    return this.owners.get(domain.uuid) ?? domain.metadata.ownerId ?? null;
  }

  /** The owner to show with a domain: for an event's snapshot the owner at the time of the event, else the current one. */
  shownOwner(domain: DomainRecord): string | null {
    return isSnapshot(domain) ? domain.ownerAtEvent : this.ownerOf(domain);
  }

  canSeeDomain(viewer: Viewer, domain: DomainRecord): boolean {
    if (isAdmin(viewer)) return true;
    const owner = this.ownerOf(domain);
    return owner !== null && owner === viewer.userId;
  }

  /**
   * Whose domain events a viewer may read: an event belongs to the user who owned its domain when it happened
   * (recorded with it), not to whoever owns the domain now, so a domain given to someone else takes none of its
   * history along and shows its previous owner nothing new. Admins read everyone's (narrowed to `requested`
   * when given); a tenant reads its own, and asking for anyone else's narrows to nothing (''). Returns the one
   * owner to match, or null for all.
   */
  eventOwnerScope(viewer: Viewer, requested: string | null | undefined): string | null {
    if (isAdmin(viewer)) return requested ?? null;
    return requested == null || requested === viewer.userId ? viewer.userId : '';
  }

  requireAdmin(viewer: Viewer): void {
    if (!isAdmin(viewer)) throw new ForbiddenError();
  }
}
