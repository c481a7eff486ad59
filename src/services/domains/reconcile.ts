import { deleteVolume, listVolumes, readVolume } from '../../libvirt/storage.js';
import type { ProvisioningContext } from './context.js';
import type { DeleteFlow } from './delete.js';
import { VOLUME_NAME } from './guest-disks.js';
import type { ReconcileReport } from './options.js';
import { ignoreKinds, resourcesOf } from './steps.js';

/**
 * Start-up reconciliation of SQLite and storage with libvirt: what a crash or a failed undo left behind is
 * finished or dropped.
 */
export class Reconciler {
  constructor(
    private readonly ctx: ProvisioningContext,
    private readonly deletes: DeleteFlow,
  ) {}

  /**
   * Start-up reconciliation of SQLite with this host's libvirt (the cache must be loaded): finishes interrupted
   * deletions; drops reservations and ownership of domains libvirt does not have and releases their addresses
   * and MACs — leaving alone those whose reservation is on another host;
   * pins addresses a create did not get to pin; deletes orphan volumes (virtplane's naming, no domain, not
   * kept); rebuilds ownership rows that are missing or differ from each domain's metadata. Logs what it fixed.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      deletionsFinished: 0,
      reservationsDropped: 0,
      addressesReleased: 0,
      addressesPinned: 0,
      volumesDeleted: 0,
      ownershipRebuilt: 0,
    };
    // One failing item (libvirt refusing, a network gone) is logged and left for the next start; it never
    // keeps the server from starting.
    const attempt = async (what: object, fn: () => unknown): Promise<boolean> => {
      try {
        await fn();
        return true;
      } catch (err) {
        this.ctx.log.warn({ ...what, err: String(err) }, 'reconciliation step failed; left for the next start');
        return false;
      }
    };
    // Domains placed on another host are that host's to judge: its libvirt, not this one, says whether they exist.
    const elsewhere = this.ctx.quotas.placedElsewhere(this.ctx.options.hostId);
    const deleted = new Set<string>();
    for (const row of this.ctx.deletions.deletions()) {
      if (elsewhere.has(row.domainUuid)) continue;
      if (!(await attempt({ domain: row.domainUuid }, () => this.deletes.finishDeletion(row.domainUuid)))) continue;
      this.ctx.log.info({ domain: row.domainUuid, name: row.domainName }, 'finished an interrupted deletion');
      deleted.add(row.domainUuid);
      report.deletionsFinished++;
    }

    // Domains just deleted may linger in the cache until their UNDEFINED event is committed. A deletion that
    // could not be finished keeps what it holds (addresses, quota, ownership, volumes) until it is: it counts as
    // existing here.
    const pending = new Set(this.ctx.deletions.deletions().map((r) => r.domainUuid));
    const existing = new Set([...this.ctx.cache.domains.keys(), ...pending, ...elsewhere].filter((u) => !deleted.has(u)));
    const dropped = this.ctx.quotas.dropMissing(this.ctx.options.hostId, existing);
    report.reservationsDropped = dropped.length;
    for (const uuid of this.ctx.owners.domains()) if (!existing.has(uuid)) this.ctx.unbind(uuid);
    for (const uuid of this.ctx.ipam.leaseholders()) {
      if (existing.has(uuid)) continue;
      if (await attempt({ domain: uuid }, () => this.ctx.ipam.release(uuid))) report.addressesReleased++;
    }
    for (const a of this.ctx.ipam.allocations()) {
      // A network gone from libvirt (or without DHCP) has nothing to pin into.
      if (!this.ctx.ipam.needsPin(a) || !existing.has(a.domainUuid) || pending.has(a.domainUuid)) continue;
      if (await attempt({ mac: a.mac }, () => this.ctx.ipam.pin(a.mac))) report.addressesPinned++;
    }

    let orphans: { name: string; path: string }[] = [];
    await attempt({ pool: this.ctx.options.storagePool }, async () => (orphans = await this.orphanVolumes(existing)));
    for (const v of orphans) {
      if (!(await attempt({ volume: v.name }, () => deleteVolume(this.ctx.bus, v.path)))) continue;
      this.ctx.log.info({ pool: this.ctx.options.storagePool, volume: v.name }, 'deleted an orphan volume (no domain)');
      report.volumesDeleted++;
    }

    for (const d of this.ctx.cache.domains.values()) {
      const owner = d.metadata.ownerId;
      // Where the two differ, the metadata is the newer word: `assign` writes it first and SQLite after (a
      // crash or a failed commit in between loses the row's update), and a create writes both with one owner.
      // A missing row for a domain with our metadata (defined outside virtplane, say) is rebuilt the same way.
      if (!owner || !existing.has(d.uuid) || this.ctx.owners.get(d.uuid) === owner || !this.ctx.users.exists(owner)) continue;
      this.ctx.quotas.transaction((tx) => {
        this.ctx.quotas.adopt(owner, d.uuid, resourcesOf(d), this.ctx.options.hostId, tx);
        this.ctx.owners.write(tx, d.uuid, owner);
      });
      report.ownershipRebuilt++;
    }
    if (Object.values(report).some((n) => n > 0)) this.ctx.log.info(report, 'reconciled SQLite and storage with libvirt');
    return report;
  }

  /** Volumes named like virtplane's guest disks in the storage pool whose domain does not exist (and were not kept). */
  private async orphanVolumes(existing: ReadonlySet<string>): Promise<{ name: string; path: string }[]> {
    let poolPath: string;
    try {
      poolPath = await this.ctx.libvirt.storage.lookupPool(this.ctx.options.storagePool);
    } catch (err) {
      ignoreKinds('NOT_FOUND')(err);
      return []; // not made yet: no volumes of ours either
    }
    const kept = this.ctx.deletions.keptIn(this.ctx.options.storagePool);
    const out: { name: string; path: string }[] = [];
    for (const path of await listVolumes(this.ctx.bus, poolPath)) {
      const { name } = await readVolume(this.ctx.bus, path);
      const uuid = VOLUME_NAME.exec(name)?.[1];
      if (uuid && !existing.has(uuid) && !kept.has(name)) out.push({ name, path });
    }
    return out;
  }
}
