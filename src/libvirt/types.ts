import type { DomainState } from './constants.js';

/** Spec types of what virtplane asks libvirt to define; services import them from here, never from `xml/`. */
export type { CpuMode, DomainNicSpec, DomainSpec, DomainType, FilterRefSpec, GraphicsType } from './xml/domain-builder.js';
export type { CleanTrafficParams } from './xml/nwfilter.js';
export type { PoolSpec } from './xml/storage.js';

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
   * name another tenant's domain has in libvirt is made unique behind it (see services/domain-names.ts).
   */
  name?: string | null;
}

export type NetworkForwardMode = 'NAT' | 'ROUTE' | 'OPEN' | 'BRIDGE' | 'ISOLATED' | 'OTHER';

export interface NetworkRecord {
  uuid: string;
  name: string;
  path: string;
  active: boolean;
  persistent: boolean;
  autostart: boolean;
  forwardMode: NetworkForwardMode;
  forwardDevice: string | null;
  bridge: string | null;
  ipv4: NetworkAddress | null;
  ipv6: NetworkAddress | null;
}

export interface NetworkAddress {
  address: string;
  prefix: number;
  dhcpRanges: { start: string; end: string }[];
  dhcpHosts: { mac: string | null; name: string | null; ip: string }[];
}

/** What virtplane asks libvirt to define: the subset of libvirt's network XML the API offers. */
export interface NetworkSpec {
  name: string;
  /** OPEN: libvirt routes and adds no firewall rules (virtplane's own NAT networks use it). */
  forwardMode: 'NAT' | 'ROUTE' | 'OPEN' | 'ISOLATED';
  /** Host interface the network forwards through; null lets the routing table decide. */
  forwardDevice: string | null;
  bridge: string;
  ipv4: { address: string; prefix: number; dhcpRange: { start: string; end: string } | null } | null;
  ipv6: { address: string; prefix: number } | null;
}

export interface HostInfo {
  hostname: string;
  libvirtVersion: string;
  cpus: number;
  memoryMiB: number;
}
