/**
 * libvirt's numeric codes, named as libvirt names them (virDomainState, virDomainEventType and the
 * per-event detail enums, virNetworkEventLifecycleType). Index = libvirt's number.
 */
export const DOMAIN_STATES = ['NOSTATE', 'RUNNING', 'BLOCKED', 'PAUSED', 'SHUTDOWN', 'SHUTOFF', 'CRASHED', 'PMSUSPENDED'] as const;
export type DomainState = (typeof DOMAIN_STATES)[number];

/** virDomain<State>Reason, per state. */
export const DOMAIN_STATE_REASONS: Record<DomainState, readonly string[]> = {
  NOSTATE: ['UNKNOWN'],
  RUNNING: ['UNKNOWN', 'BOOTED', 'MIGRATED', 'RESTORED', 'FROM_SNAPSHOT', 'UNPAUSED', 'MIGRATION_CANCELED', 'SAVE_CANCELED', 'WAKEUP', 'CRASHED', 'POSTCOPY', 'POSTCOPY_FAILED'],
  BLOCKED: ['UNKNOWN'],
  PAUSED: ['UNKNOWN', 'USER', 'MIGRATION', 'SAVE', 'DUMP', 'IOERROR', 'WATCHDOG', 'FROM_SNAPSHOT', 'SHUTTING_DOWN', 'SNAPSHOT', 'CRASHED', 'STARTING_UP', 'POSTCOPY', 'POSTCOPY_FAILED', 'API_ERROR'],
  SHUTDOWN: ['UNKNOWN', 'USER'],
  SHUTOFF: ['UNKNOWN', 'SHUTDOWN', 'DESTROYED', 'CRASHED', 'MIGRATED', 'SAVED', 'FAILED', 'FROM_SNAPSHOT', 'DAEMON'],
  CRASHED: ['UNKNOWN', 'PANICKED'],
  PMSUSPENDED: ['UNKNOWN'],
};

export const DOMAIN_EVENT_TYPES = ['DEFINED', 'UNDEFINED', 'STARTED', 'SUSPENDED', 'RESUMED', 'STOPPED', 'SHUTDOWN', 'PMSUSPENDED', 'CRASHED'] as const;
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

export function domainStateName(code: number): DomainState {
  return DOMAIN_STATES[code] ?? 'NOSTATE';
}

export function domainStateReasonName(state: DomainState, code: number): string {
  return DOMAIN_STATE_REASONS[state][code] ?? 'UNKNOWN';
}

export function domainEventName(code: number): DomainEventType | undefined {
  return DOMAIN_EVENT_TYPES[code];
}

export function domainEventDetailName(type: DomainEventType, code: number): string {
  return DOMAIN_EVENT_DETAILS[type][code] ?? 'UNKNOWN';
}

/** Flags of libvirt calls used here (virDomainXMLFlags, virConnectListAllDomainsFlags, …). */
export const VIR_DOMAIN_XML_SECURE = 1;
export const VIR_DOMAIN_XML_INACTIVE = 2;
export const VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1;
export const VIR_DOMAIN_UNDEFINE_NVRAM = 4;
/** virDomainModificationImpact: which definition a device update changes. */
export const VIR_DOMAIN_AFFECT_LIVE = 1;
export const VIR_DOMAIN_AFFECT_CONFIG = 2;

/** virStoragePoolState. */
export const POOL_STATES = ['INACTIVE', 'BUILDING', 'RUNNING', 'DEGRADED', 'INACCESSIBLE'] as const;
export type PoolState = (typeof POOL_STATES)[number];

/** libvirt's storage pool types (`<pool type=…>`), upper-cased; a type not listed reads as OTHER. */
export const POOL_TYPES = ['DIR', 'FS', 'NETFS', 'LOGICAL', 'DISK', 'ISCSI', 'ISCSI_DIRECT', 'SCSI', 'MPATH', 'RBD', 'SHEEPDOG', 'GLUSTER', 'ZFS', 'VSTORAGE', 'OTHER'] as const;
export type PoolType = (typeof POOL_TYPES)[number];
