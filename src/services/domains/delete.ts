import { domainActions } from '../../libvirt/domain.js';
import type { DomainRecord } from '../../model/index.js';
import { isAdmin, type Viewer } from '../access/index.js';
import { fromLibvirt, InvalidStateError, NotFoundError } from '../errors.js';
import type { ProvisioningContext } from './context.js';
import { isOurVolume } from './guest-disks.js';
import { ignoreKinds, stubOf } from './steps.js';

/**
 * Delete: record the deletion in SQLite → stop → undefine → delete volumes → release addresses and MAC →
 * release quota and ownership (removing the record in the same transaction). Every step is idempotent, so
 * start-up reconciliation finishes a deletion that was interrupted.
 */
export class DeleteFlow {
  constructor(private readonly ctx: ProvisioningContext) {}

  /**
   * Deletes a visible domain: stop, undefine, delete its volumes (unless `keepDisk`), release addresses and
   * MAC, then quota and ownership. Answers with its last state.
   */
  async delete(viewer: Viewer, uuid: string, keepDisk = false): Promise<DomainRecord> {
    const domain = this.ctx.domains.find(viewer, uuid) ?? this.unfinishedDeletion(viewer, uuid);
    const unclaim = this.ctx.claim(uuid);
    try {
      const volumes = domain.disks.flatMap((d) =>
        d.device === 'disk' && d.pool && d.volume && isOurVolume(d.volume, uuid) ? [{ pool: d.pool, volume: d.volume }] : [],
      );
      // A retry keeps the first request's record (and its keepDisk).
      this.ctx.deletions.recordDeletion({ domainUuid: uuid, domainName: domain.name, keepDisk, volumes, domain });
      await this.finishDeletion(uuid);
      this.ctx.releasedByFlow(uuid);
      // Through the ordered pipeline: once this answers, no query shows the domain any more. Usually the
      // UNDEFINED event's re-read has committed that already (releasing the address waits for a network re-read
      // in line after it): once a re-read has found the domain gone, every re-read after it started later and
      // finds it gone too, so there is nothing left to wait for. Otherwise it is re-read here.
      if (this.ctx.cache.domainByPath(domain.path)) await this.ctx.sync.refreshDomain(domain.path);
    } finally {
      unclaim();
    }
    return { ...domain, active: false, state: 'SHUTOFF' };
  }

  /**
   * A deletion that failed part-way (its domain may be undefined already, so no longer listed) for a retry by
   * whoever may still see it; NOT_FOUND for anyone else, as for a missing domain.
   */
  private unfinishedDeletion(viewer: Viewer, uuid: string): DomainRecord {
    const row = this.ctx.deletions.deletionOf(uuid);
    // Rows from before the domain was recorded with them: admins may still retry, answered with what is known.
    const d = (row?.domain as DomainRecord | null | undefined) ?? (row && isAdmin(viewer) ? stubOf(uuid, row.domainName) : null);
    if (!d || !this.ctx.access.canSeeDomain(viewer, d)) throw new NotFoundError('domain', uuid);
    return d;
  }

  /** Runs (or resumes) the recorded deletion of `uuid`; each step may already have been done. */
  async finishDeletion(uuid: string): Promise<void> {
    const row = this.ctx.deletions.deletionOf(uuid);
    if (!row) return;
    try {
      // The cached path when the domain is known (libvirt-dbus paths are derived from the UUID), else a lookup.
      let path = this.ctx.cache.domains.get(uuid)?.path ?? null;
      if (path === null) {
        try {
          path = await this.ctx.libvirt.domains.lookupByUUID(uuid);
        } catch (err) {
          ignoreKinds('NOT_FOUND')(err);
        }
      }
      // Looking the volumes up changes nothing, so it runs while the domain is stopped and undefined.
      const volumes = (row.keepDisk ? [] : row.volumes).map((v) => ({ ref: v, found: this.ctx.storagePaths.volume(v.pool, v.volume) }));
      for (const { found } of volumes) found.catch(() => undefined); // its error is met where it is awaited, below
      if (path) {
        await domainActions.destroy(this.ctx.bus, path).catch(ignoreKinds('INVALID_STATE', 'NOT_FOUND'));
        await this.ctx.undefine(path);
        // Started in between (outside virtplane: the API refuses actions on a domain being deleted), it lives on
        // as a transient domain, which nothing may be released under: stop it, and it is gone.
        if (await this.ctx.stillThere(uuid)) {
          await domainActions.destroy(this.ctx.bus, path).catch(ignoreKinds('INVALID_STATE', 'NOT_FOUND'));
          if (await this.ctx.stillThere(uuid))
            throw new InvalidStateError('the domain is still defined or running after its deletion; try again');
        }
      }
      // With the domain gone, its DHCP entries go while its volumes are deleted; its addresses become free for
      // others only after both (a failure in between leaves the deletion to resume, nothing given away).
      const unpinned = this.ctx.ipam.unpin(uuid);
      unpinned.catch(() => undefined); // its error is met where it is awaited, below
      for (const { ref, found } of volumes) await this.ctx.disks.deleteRemembered(ref, found);
      await unpinned;
      // The deletion record goes with addresses, MAC, quota and ownership: all released, or none.
      await this.ctx.forgetDomain(uuid, () => {
        if (row.keepDisk) this.ctx.deletions.keepVolumes(row.volumes, uuid, row.domainName);
        this.ctx.deletions.removeDeletion(uuid);
      });
    } catch (err) {
      throw fromLibvirt(err, { kind: 'domain', id: uuid });
    }
  }
}
