import type { DomainRecord, DomainState } from './domain.js';
import type { NetworkRecord } from './network.js';

/** libvirt's event names (index = libvirt's number), which the API's enums spell. */
export const DOMAIN_EVENT_TYPES = [
  'DEFINED',
  'UNDEFINED',
  'STARTED',
  'SUSPENDED',
  'RESUMED',
  'STOPPED',
  'SHUTDOWN',
  'PMSUSPENDED',
  'CRASHED',
] as const;
export type DomainEventType = (typeof DOMAIN_EVENT_TYPES)[number];

/** virDomainEvent<Type>DetailType, per event type. */
export const DOMAIN_EVENT_DETAILS: Record<DomainEventType, readonly string[]> = {
  DEFINED: ['ADDED', 'UPDATED', 'RENAMED', 'FROM_SNAPSHOT'],
  UNDEFINED: ['REMOVED', 'RENAMED'],
  STARTED: ['BOOTED', 'MIGRATED', 'RESTORED', 'FROM_SNAPSHOT', 'WAKEUP'],
  SUSPENDED: ['PAUSED', 'MIGRATED', 'IOERROR', 'WATCHDOG', 'RESTORED', 'FROM_SNAPSHOT', 'API_ERROR', 'POSTCOPY', 'POSTCOPY_FAILED'],
  RESUMED: ['UNPAUSED', 'MIGRATED', 'FROM_SNAPSHOT', 'POSTCOPY', 'POSTCOPY_FAILED'],
  STOPPED: ['SHUTDOWN', 'DESTROYED', 'CRASHED', 'MIGRATED', 'SAVED', 'FAILED', 'FROM_SNAPSHOT'],
  SHUTDOWN: ['FINISHED', 'GUEST', 'HOST'],
  PMSUSPENDED: ['MEMORY', 'DISK'],
  CRASHED: ['PANICKED', 'CRASHLOADED'],
};

/** Every detail name of every event type, once each: the GraphQL enum of details. */
export const DOMAIN_EVENT_DETAIL_NAMES = [...new Set([...Object.values(DOMAIN_EVENT_DETAILS).flat(), 'UNKNOWN'])];

/** The state a domain is in right after an event, where the event alone says so. */
export const STATE_AFTER_EVENT: Partial<Record<DomainEventType, DomainState>> = {
  STARTED: 'RUNNING',
  SUSPENDED: 'PAUSED',
  RESUMED: 'RUNNING',
  STOPPED: 'SHUTOFF',
  SHUTDOWN: 'SHUTDOWN',
  PMSUSPENDED: 'PMSUSPENDED',
  CRASHED: 'CRASHED',
};

export const NETWORK_EVENT_TYPES = ['DEFINED', 'UNDEFINED', 'STARTED', 'STOPPED'] as const;
export type NetworkEventType = (typeof NETWORK_EVENT_TYPES)[number];

/** One libvirt lifecycle change of a domain, with the domain as it was right after it. */
export interface DomainLifecycleEvent {
  /** Position in the durable log (the row id): the cursor clients resume from. */
  seq: number;
  /** The host the domain is on: a UUID names a domain only together with its host. */
  hostId: number;
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
  /** The host the network is on. */
  hostId: number;
  type: NetworkEventType;
  at: Date;
  network: NetworkRecord;
  synthetic: boolean;
}

/**
 * An event as a host's sync pipeline hands it over, before the log gives it its cursor; the host is the
 * pipeline's (EventStream.forHost).
 */
export type NewDomainEvent = Omit<DomainLifecycleEvent, 'seq' | 'ownerId' | 'hostId'>;
export type NewNetworkEvent = Omit<NetworkLifecycleEvent, 'seq' | 'hostId'>;
