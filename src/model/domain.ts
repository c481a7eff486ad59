/** A domain as virtplane knows it (DomainRecord, read from libvirt) and as it asks libvirt for one (DomainSpec). */

/** libvirt's domain states (virDomainState), named as libvirt names them; index = libvirt's number. */
export const DOMAIN_STATES = ['NOSTATE', 'RUNNING', 'BLOCKED', 'PAUSED', 'SHUTDOWN', 'SHUTOFF', 'CRASHED', 'PMSUSPENDED'] as const;
export type DomainState = (typeof DOMAIN_STATES)[number];

/** virDomain<State>Reason, per state. */
export const DOMAIN_STATE_REASONS: Record<DomainState, readonly string[]> = {
  NOSTATE: ['UNKNOWN'],
  RUNNING: [
    'UNKNOWN',
    'BOOTED',
    'MIGRATED',
    'RESTORED',
    'FROM_SNAPSHOT',
    'UNPAUSED',
    'MIGRATION_CANCELED',
    'SAVE_CANCELED',
    'WAKEUP',
    'CRASHED',
    'POSTCOPY',
    'POSTCOPY_FAILED',
  ],
  BLOCKED: ['UNKNOWN'],
  PAUSED: [
    'UNKNOWN',
    'USER',
    'MIGRATION',
    'SAVE',
    'DUMP',
    'IOERROR',
    'WATCHDOG',
    'FROM_SNAPSHOT',
    'SHUTTING_DOWN',
    'SNAPSHOT',
    'CRASHED',
    'STARTING_UP',
    'POSTCOPY',
    'POSTCOPY_FAILED',
    'API_ERROR',
  ],
  SHUTDOWN: ['UNKNOWN', 'USER'],
  SHUTOFF: ['UNKNOWN', 'SHUTDOWN', 'DESTROYED', 'CRASHED', 'MIGRATED', 'SAVED', 'FAILED', 'FROM_SNAPSHOT', 'DAEMON'],
  CRASHED: ['UNKNOWN', 'PANICKED'],
  PMSUSPENDED: ['UNKNOWN'],
};

/** What the libvirt layer hands up about a domain: plain data, no variants, no XML. */
export interface DomainRecord {
  uuid: string;
  name: string;
  /** libvirt-dbus object path; valid until the domain is undefined. */
  path: string;
  state: DomainState;
  stateReason: string;
  active: boolean;
  persistent: boolean;
  autostart: boolean;
  vcpus: number;
  memoryMiB: number;
  interfaces: DomainInterface[];
  disks: DomainDisk[];
  graphics: DomainGraphics[];
  /** Contents of our own `<metadata>` element, when present. */
  metadata: DomainMetadata;
  /**
   * The host the domain is on (the hosts table's id), set by that host's state cache: a UUID names a domain
   * only with its host. Absent in what the libvirt layer reads, and in events logged before hosts were named.
   */
  hostId?: number;
}

export interface DomainInterface {
  type: string;
  mac: string | null;
  model: string | null;
  network: string | null;
  /** Host bridge of a `type='bridge'` interface. */
  bridge: string | null;
}

export interface DomainDisk {
  device: string;
  target: string;
  bus: string | null;
  source: string | null;
  /** Pool/volume when the disk is a storage volume. */
  pool: string | null;
  volume: string | null;
  capacityBytes: number | null;
}

export interface DomainGraphics {
  type: string;
  listen: string | null;
  port: number | null;
}

export interface DomainMetadata {
  ownerId: string | null;
  /**
   * The name its owner gave it, kept when the libvirt name differs: each tenant has its own name space, so a
   * name another tenant's domain has in libvirt is made unique behind it (see `shownName` below, and services/domains/names.ts).
   */
  name?: string | null;
}

/**
 * A domain as virtplane creates it: the seed's template, with only what varies per guest left open. Domains
 * are built from this spec, never from raw XML; `parseDomainSpec` (xml/domain.ts) reads it back.
 */
export interface DomainSpec {
  /** `kvm` where /dev/kvm is usable, else `qemu` (TCG); `test` on libvirt's test driver. */
  type: DomainType;
  name: string;
  /** libvirt generates one when absent. */
  uuid?: string;
  /** A free-text label (libvirt `<title>`, one line). */
  title?: string;
  vcpus: number;
  memoryMiB: number;
  /** Default `host-model` (works under TCG too: libvirt expands it to the model QEMU can emulate). */
  cpuMode?: CpuMode;
  /** Booted in this order (vda, vdb, …), before the CD-ROM; never from the network. */
  disks: DomainDiskSpec[];
  /** A read-only SATA CD-ROM drive; `source: null` is an empty tray that media can be inserted into later. */
  cdrom?: DomainCdromSpec;
  interfaces: DomainNicSpec[];
  /** SPICE or VNC on 127.0.0.1 only, with a password; port chosen by libvirt. */
  graphics?: DomainGraphicsSpec;
  /** The owning user's id, kept in virtplane's `<metadata>` element. */
  ownerId: string;
  /** The name its owner gave it, when that is not its libvirt `name`; kept in `<metadata>` too. */
  tenantName?: string;
  /** cgroup resource partition, e.g. `/machine/alice` (the parent cgroup must exist on the host). */
  partition?: string;
  /**
   * The serial port (and console) as a unix socket QEMU listens on at this path, for the server's serial
   * console; absent: a pty, as the seed made them.
   */
  serialSocket?: string;
}

export type DomainType = 'kvm' | 'qemu' | 'test';
export type CpuMode = 'host-model' | 'host-passthrough' | 'maximum';
export type DiskFormat = 'raw' | 'qcow2';

export type DiskSource =
  { type: 'volume'; pool: string; volume: string } | { type: 'file'; path: string } | { type: 'block'; path: string };

export interface DomainDiskSpec {
  source: DiskSource;
  format: DiskFormat;
}

export interface DomainCdromSpec {
  source: DiskSource | null;
}

/** `<filterref>` of a NIC (e.g. clean-traffic with its IP parameter), passed through as data. */
export interface FilterRefSpec {
  filter: string;
  parameters?: { name: string; value: string }[];
}

export interface DomainNicSpec {
  network: string;
  mac: string;
  filterref?: FilterRefSpec;
}

export type GraphicsType = 'VNC' | 'SPICE';

export interface DomainGraphicsSpec {
  type: GraphicsType;
  /** Empty when read back from XML fetched without the secure flag. */
  password: string;
}

/**
 * Each tenant has its own name space of domains. The name a domain is shown by is the one its owner gave it
 * (kept in virtplane's libvirt metadata when it differs from the libvirt name), else its libvirt name.
 */
export function shownName(d: DomainRecord): string {
  return d.metadata.name ?? d.name;
}
