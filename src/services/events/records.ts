import type { DomainEventType, NetworkEventType } from '../../libvirt/constants.js';
import type { DomainRecord, NetworkRecord } from '../../libvirt/types.js';

/** One libvirt lifecycle change of a domain, with the domain as it was right after it. */
export interface DomainLifecycleEvent {
  /** Position in the durable log (the row id): the cursor clients resume from. */
  seq: number;
  type: DomainEventType;
  detail: string;
  at: Date;
  domain: DomainRecord;
  /** The domain's owner when the event was appended (AccessPolicy.ownerOf): the only tenant who may see it. */
  ownerId: string | null;
  /** True when the server inferred the change on resync instead of receiving libvirt's signal. */
  synthetic: boolean;
}

/** An event's domain as it was right after the event, its owner included (see `snapshotOf`). */
export interface DomainSnapshot extends DomainRecord {
  /** The event's `ownerId`: whose domain it was then, whoever owns it now. */
  readonly ownerAtEvent: string | null;
}

/** The domain an event shows: the copy recorded with it, owned by the owner the event was recorded with. */
export function snapshotOf(e: DomainLifecycleEvent): DomainSnapshot {
  return { ...e.domain, ownerAtEvent: e.ownerId };
}

export function isSnapshot(d: DomainRecord): d is DomainSnapshot {
  return 'ownerAtEvent' in d;
}

export interface NetworkLifecycleEvent {
  seq: number;
  type: NetworkEventType;
  at: Date;
  network: NetworkRecord;
  synthetic: boolean;
}

/** An event as the sync pipeline hands it over, before the log gives it its cursor. */
export type NewDomainEvent = Omit<DomainLifecycleEvent, 'seq' | 'ownerId'>;
export type NewNetworkEvent = Omit<NetworkLifecycleEvent, 'seq'>;

/** Where the sync pipeline commits events: appended to the log, then published — in that order. */
export interface EventSink {
  domain(event: NewDomainEvent): void;
  network(event: NewNetworkEvent): void;
  /** The whole known state after a (re)load, so a restarted server can diff against it. */
  snapshot(domains: Iterable<DomainRecord>, networks: Iterable<NetworkRecord>): void;
  /** The state known when the server last ran, or null when it never ran with this database. */
  lastKnown(): { domains: DomainRecord[]; networks: NetworkRecord[] } | null;
}
