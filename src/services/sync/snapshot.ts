import type { LibvirtClient } from '../../libvirt/client.js';
import type { DomainEventType, DomainRecord, DomainState, HostInfo, NetworkLifecycleEvent, NetworkRecord } from '../../model/index.js';
import { readNetwork } from '../../libvirt/network.js';
import { asRead, type Read } from './line.js';
import type { StateCache } from './state-cache.js';

/** A domain event as a signal brought it, or as a resync infers it. */
/** A libvirt signal (or, `synthetic`, an event the server announces for a change libvirt signals nothing of). */
export type Incoming = { type: DomainEventType; detail: string; synthetic?: boolean };

/** How the differences a reload finds are announced (as synthetic events). */
export interface SnapshotAnnouncer {
  domain(event: Incoming, domain: DomainRecord): void;
  network(type: NetworkLifecycleEvent['type'], network: NetworkRecord): void;
}

/** The event a resync reports when it finds a domain in a state no signal announced. */
function eventForStateChange(from: DomainState | undefined, to: DomainState): Incoming | null {
  if (from === to) return null;
  switch (to) {
    case 'RUNNING':
    case 'BLOCKED':
      return from === 'PAUSED' ? { type: 'RESUMED', detail: 'UNPAUSED' } : { type: 'STARTED', detail: 'BOOTED' };
    case 'PAUSED':
      return { type: 'SUSPENDED', detail: 'PAUSED' };
    case 'SHUTOFF':
      return from === undefined ? null : { type: 'STOPPED', detail: 'SHUTDOWN' };
    case 'CRASHED':
      return { type: 'CRASHED', detail: 'PANICKED' };
    case 'PMSUSPENDED':
      return { type: 'PMSUSPENDED', detail: 'MEMORY' };
    default:
      return null;
  }
}

/**
 * Puts a full reload of every domain and network into the cache. On the first load nothing is announced;
 * later, each difference from what the cache held is announced.
 */
export function applySnapshot(
  cache: StateCache,
  domains: DomainRecord[],
  networks: NetworkRecord[],
  initial: boolean,
  announcer: SnapshotAnnouncer,
): void {
  const seen = new Set<string>();
  const publish = (event: Incoming, d: DomainRecord) => !initial && announcer.domain(event, d);
  for (const d of domains) {
    seen.add(d.uuid);
    const before = cache.domains.get(d.uuid);
    cache.setDomain(d);
    if (initial) continue;
    if (!before) publish({ type: 'DEFINED', detail: 'ADDED' }, { ...d, state: 'SHUTOFF' });
    const change = eventForStateChange(before?.state ?? 'SHUTOFF', d.state);
    if (change) publish(change, d);
  }
  for (const [uuid, d] of [...cache.domains]) {
    if (seen.has(uuid)) continue;
    cache.deleteDomain(uuid);
    if (d.active) announcer.domain({ type: 'STOPPED', detail: 'DESTROYED' }, d);
    if (d.persistent) announcer.domain({ type: 'UNDEFINED', detail: 'REMOVED' }, { ...d, state: 'SHUTOFF', active: false });
  }
  const seenNetworks = new Set(networks.map((n) => n.uuid));
  const announce = (type: NetworkLifecycleEvent['type'], network: NetworkRecord) => !initial && announcer.network(type, network);
  for (const n of networks) {
    const before = cache.networks.get(n.uuid);
    cache.setNetwork(n);
    if (!before) announce('DEFINED', { ...n, active: false });
    if (n.active && !before?.active) announce('STARTED', n);
    if (!n.active && before?.active) announce('STOPPED', n);
  }
  for (const [uuid, n] of [...cache.networks]) {
    if (seenNetworks.has(uuid)) continue;
    cache.deleteNetwork(uuid);
    if (n.active) announce('STOPPED', { ...n, active: false });
    announce('UNDEFINED', { ...n, active: false });
  }
}

/** Reads every domain and network (bulk lane) and the host; fails on any error but a NOT_FOUND (a domain gone meanwhile). */
export async function loadAll(libvirt: LibvirtClient): Promise<{ domains: DomainRecord[]; networks: NetworkRecord[]; host: HostInfo }> {
  const [domainPaths, networkPaths, host] = await Promise.all([libvirt.domains.list(), libvirt.networks.list(), libvirt.host.readInfo()]);
  const domains = await Promise.all(domainPaths.map((p) => asRead(libvirt.domains.read(p, 'bulk'))));
  const networks = await Promise.all(networkPaths.map((p) => asRead(readNetwork(libvirt.bus, p, 'bulk'))));
  const failed = [...domains, ...networks].find((r) => 'err' in r && r.err.kind !== 'NOT_FOUND');
  if (failed && 'err' in failed) throw failed.err;
  const ok = <T>(rs: Read<T>[]) => rs.flatMap((r) => ('ok' in r ? [r.ok] : []));
  return { domains: ok(domains), networks: ok(networks), host };
}
