import type { DomainRecord } from '../libvirt/types.js';
import { ForbiddenError } from './errors.js';
import { isAdmin, type Viewer } from './viewer.js';

/**
 * The one rule of tenant isolation: admins see every domain; a tenant sees only the domains it owns.
 * Everything that lists, loads, mutates or streams a domain asks here, and a domain the viewer may not see
 * is treated exactly like one that does not exist.
 */
export class AccessPolicy {
  ownerOf(domain: DomainRecord): string | null {
    return domain.metadata.ownerId;
  }

  canSeeDomain(viewer: Viewer, domain: DomainRecord): boolean {
    return isAdmin(viewer) || this.ownerOf(domain) === viewer.userId;
  }

  requireAdmin(viewer: Viewer): void {
    if (!isAdmin(viewer)) throw new ForbiddenError();
  }
}
