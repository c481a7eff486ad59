import type { Db } from '../index.js';
import type { DomainUsage, UsageMeter } from '../../model/index.js';
import { transaction } from '../transaction.js';

/** A domain as metered at one moment: its shown name, its owner and its meter (null: it is gone). */
export interface Metered {
  /** The host the domain is on: a domain is its host and UUID. */
  hostId: number;
  domainUuid: string;
  name: string;
  ownerId: string | null;
  meter: UsageMeter | null;
}

interface OpenRow {
  id: number;
  owner_id: string | null;
  domain_name: string;
  running: number;
  vcpus: number;
  memory_mib: number;
  disk_bytes: number;
  started_at: number;
}

const HOUR_MS = 3_600_000;
const GIB = 1024 ** 3;

/**
 * Usage periods (tables/usage.ts). Its writes are plain prepared statements meant to run inside a caller's
 * transaction (an event's append, an ownership write), so a period changes exactly when what it meters does.
 */
export class UsageStore {
  private readonly openOf;
  private readonly openOfUuid;
  private readonly close;
  private readonly open;
  private readonly rename;
  private readonly openUuids;
  private readonly summarise;
  private readonly pruneBefore;

  constructor(private readonly db: Db) {
    const c = db.$client;
    this.openOf = c.prepare('SELECT * FROM usage_periods WHERE host_id = ? AND domain_uuid = ? AND ended_at IS NULL');
    this.openOfUuid = c.prepare('SELECT * FROM usage_periods WHERE domain_uuid = ? AND ended_at IS NULL');
    this.close = c.prepare('UPDATE usage_periods SET ended_at = max(?, started_at) WHERE id = ?');
    this.open = c.prepare(
      'INSERT INTO usage_periods (host_id, domain_uuid, domain_name, owner_id, running, vcpus, memory_mib, disk_bytes, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.rename = c.prepare('UPDATE usage_periods SET domain_name = ? WHERE id = ?');
    this.openUuids = c.prepare('SELECT id, domain_uuid FROM usage_periods WHERE host_id = ? AND ended_at IS NULL');
    // The overlap of each period with [from, to), an open one counted up to now. SQLite's bare columns beside
    // max(): domain_name comes from the newest period (ids grow), the name the domain had last.
    const overlap = 'min(coalesce(ended_at, @now), @to) - max(started_at, @from)';
    this.summarise = c.prepare(
      `SELECT host_id, domain_uuid, domain_name, max(id) AS latest,
              sum(${overlap}) AS existed_ms,
              sum(running * (${overlap})) AS running_ms,
              sum(running * vcpus * (${overlap})) AS vcpu_ms,
              sum(running * memory_mib * 1.0 * (${overlap})) AS memory_mib_ms,
              sum(disk_bytes * 1.0 * (${overlap})) AS disk_byte_ms
         FROM usage_periods
        WHERE owner_id = @owner AND started_at < @to AND coalesce(ended_at, @now) > @from
        GROUP BY host_id, domain_uuid`,
    );
    this.pruneBefore = c.prepare('DELETE FROM usage_periods WHERE ended_at IS NOT NULL AND ended_at < ?');
  }

  /**
   * Follows a domain's state at `at`: a change of owner or meter closes its open period there and opens the
   * next; the same state only keeps its name current. To be called inside the transaction of what changed.
   */
  record(m: Metered, at: number): void {
    const open = this.openOf.get(m.hostId, m.domainUuid) as OpenRow | undefined;
    if (open && m.meter && UsageStore.same(open, m.ownerId, m.meter)) {
      if (open.domain_name !== m.name) this.rename.run(m.name, open.id);
      return;
    }
    if (open) this.close.run(at, open.id);
    if (m.meter) {
      const { running, vcpus, memoryMiB, diskBytes } = m.meter;
      // Never before the period it follows (an event held through a full disk is written with its own time).
      const start = open ? Math.max(at, open.started_at) : at;
      this.open.run(m.hostId, m.domainUuid, m.name, m.ownerId, running ? 1 : 0, vcpus, memoryMiB, diskBytes, start);
    }
  }

  /** `record` in a transaction of its own, for a change no event or ownership write carries. */
  recordAlone(m: Metered, at: number): void {
    transaction(this.db, () => this.record(m, at));
  }

  /**
   * The domain changed hands at `at`: its open period (if any) ends there and goes on under the new owner.
   * Ownership names a domain by UUID alone (domain_owners): every host's open period of that UUID follows it.
   */
  reassign(domainUuid: string, ownerId: string, at: number): void {
    for (const open of this.openOfUuid.all(domainUuid) as (OpenRow & { host_id: number })[])
      this.reassignPeriod(open, domainUuid, ownerId, at);
  }

  private reassignPeriod(open: OpenRow & { host_id: number }, domainUuid: string, ownerId: string, at: number): void {
    if (open.owner_id === ownerId) return;
    this.close.run(at, open.id);
    this.open.run(
      open.host_id,
      domainUuid,
      open.domain_name,
      ownerId,
      open.running,
      open.vcpus,
      open.memory_mib,
      open.disk_bytes,
      Math.max(at, open.started_at),
    );
  }

  /**
   * Makes the open periods of one host's domains match what exists there now (after a full load of its
   * libvirt): each domain as metered, and the periods of its domains that are no longer there closed at `at`.
   * Another host's periods are left alone. Inside the caller's transaction.
   */
  reconcile(hostId: number, present: readonly Metered[], at: number): void {
    const uuids = new Set<string>();
    for (const m of present) {
      if (m.hostId !== hostId) throw new Error(`a domain of host ${m.hostId} in host ${hostId}'s reconcile`);
      this.record(m, at);
      uuids.add(m.domainUuid);
    }
    for (const row of this.openUuids.all(hostId) as { id: number; domain_uuid: string }[]) {
      if (!uuids.has(row.domain_uuid)) this.close.run(at, row.id);
    }
  }

  /** What each domain of `ownerId` (a host's UUID) used within [from, to), counted up to `now`; unordered. */
  summary(ownerId: string, from: number, to: number, now: number): DomainUsage[] {
    const rows = this.summarise.all({ owner: ownerId, from, to: Math.min(to, now), now }) as {
      host_id: number;
      domain_uuid: string;
      domain_name: string;
      existed_ms: number;
      running_ms: number;
      vcpu_ms: number;
      memory_mib_ms: number;
      disk_byte_ms: number;
    }[];
    return rows.map((r) => ({
      hostId: r.host_id,
      domainUuid: r.domain_uuid,
      name: r.domain_name,
      existedHours: r.existed_ms / HOUR_MS,
      runningHours: r.running_ms / HOUR_MS,
      vcpuHours: r.vcpu_ms / HOUR_MS,
      memoryGiBHours: r.memory_mib_ms / 1024 / HOUR_MS,
      diskGiBHours: r.disk_byte_ms / GIB / HOUR_MS,
    }));
  }

  /** Deletes the periods that ended before `before`; answers how many. */
  prune(before: number): number {
    return this.pruneBefore.run(before).changes;
  }

  private static same(open: OpenRow, ownerId: string | null, m: UsageMeter): boolean {
    return (
      open.owner_id === ownerId &&
      open.running === (m.running ? 1 : 0) &&
      open.vcpus === m.vcpus &&
      open.memory_mib === m.memoryMiB &&
      open.disk_bytes === m.diskBytes
    );
  }
}
