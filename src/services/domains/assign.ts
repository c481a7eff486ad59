import { setDomainOwner } from '../../libvirt/domain.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { type DomainRecord, shownName } from '../../model/index.js';
import type { Viewer } from '../access/index.js';
import { ConflictError, fromLibvirt, LibvirtFailedError, NotFoundError } from '../errors.js';
import { renewConsolePassword } from './console-password.js';
import type { ProvisioningContext } from './context.js';
import { ignoreKinds, resourcesOf } from './steps.js';

/**
 * Admin: gives an existing domain to a user (metadata first, then SQLite), counting its resources. The
 * console then gets a new password: whoever had the domain before knows the old one. Should that fail, the
 * domain is handed on all the same and the error says so (rotateConsolePassword can be retried).
 */
export class AssignFlow {
  private readonly assignedListeners: ((uuid: string) => void)[] = [];

  constructor(private readonly ctx: ProvisioningContext) {}

  /** Runs after a domain was handed to another user (consoles of the previous owner close). */
  onAssigned(listener: (uuid: string) => void): void {
    this.assignedListeners.push(listener);
  }

  async assign(viewer: Viewer, uuid: string, userId: string): Promise<DomainRecord> {
    this.ctx.access.requireAdmin(viewer);
    const domain = this.ctx.domains.get(viewer, uuid);
    this.ctx.users.get(viewer, userId);
    const unclaim = this.ctx.claim(uuid);
    try {
      const handedOn = this.ctx.owners.get(uuid) !== userId;
      if (handedOn && this.ctx.ownerHasName(userId, shownName(domain))) {
        throw new ConflictError(`the user already has a domain named ${JSON.stringify(shownName(domain))}`);
      }
      try {
        await setDomainOwner(this.ctx.bus, domain.path, userId, domain.active, domain.metadata.name);
      } catch (err) {
        throw fromLibvirt(err, { kind: 'domain', id: uuid });
      }
      this.ctx.quotas.transaction((tx) => {
        this.ctx.quotas.adopt(userId, uuid, resourcesOf(domain), this.ctx.options.hostId, tx);
        this.ctx.owners.write(tx, uuid, userId);
      });
      if (handedOn) for (const listener of this.assignedListeners) listener(uuid);
      // Handed on, it is announced (libvirt signals no metadata change as a lifecycle event), still under the
      // claim, so no other assignment's ownership commits in between: the new owner's live views learn of it
      // now, in its own stream (an event belongs to the owner at its time).
      const announce = handedOn ? { type: 'DEFINED' as const, detail: 'UPDATED' } : undefined;
      const assigned = (await this.ctx.sync.refreshDomain(domain.path, { announce })) ?? domain;
      // Renewed once the previous owner can no longer see the domain, so it cannot read the new password.
      // (libvirt's test driver cannot change a device: there the password stays.)
      if (handedOn) {
        await renewConsolePassword(this.ctx.bus, domain)
          .catch(ignoreKinds('UNSUPPORTED'))
          .catch((err: unknown) => {
            if (err instanceof LibvirtError && err.kind === 'NOT_FOUND') throw new NotFoundError('domain', uuid); // gone meanwhile
            throw new LibvirtFailedError(
              `the domain was assigned, but its console password could not be renewed (retry rotateConsolePassword): ${(err as Error).message}`,
            );
          });
      }
      return assigned;
    } finally {
      unclaim();
    }
  }
}
