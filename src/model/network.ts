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
  /** The host the network is on, set by that host's state cache (as `DomainRecord.hostId`). */
  hostId?: number;
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

export interface CleanTrafficParams {
  /**
   * The addresses the NIC may send from: each becomes one `IP` / `IPV6` parameter. Giving them turns
   * libvirt's address learning off, so the guest cannot claim another address by sending from it first.
   */
  ipv4: readonly string[];
  ipv6?: readonly string[];
}
