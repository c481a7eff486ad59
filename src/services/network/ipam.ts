import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/index.js';
import { AddressStore, type AllocationRow } from '../../db/stores/network.js';
import { transaction, type Transaction } from '../../db/transaction.js';
import type { LibvirtBus } from '../../libvirt/bus.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { addDhcpHost, deleteDhcpHost } from '../../libvirt/network.js';
import type { CleanTrafficParams, NetworkAddress, NetworkRecord } from '../../model/index.js';
import { allocationPool, countFree, firstFree, formatIp, parseIp, type Pool } from './addresses.js';
import { type AccessPolicy, isAdmin, type Viewer } from '../access/index.js';
import { AddressExhaustedError, fromLibvirt, NotFoundError, ValidationError } from '../errors.js';
import type { LibvirtSync, StateCache } from '../sync/index.js';
import type { NetworkService } from './networks.js';
import { assignments, hasDhcpHost, slaacAddress, withDhcpHost, type Lease, type NicAddresses } from './nic-addresses.js';

const MAC = /^52:54:00(:[0-9a-f]{2}){3}$/;
const MAC_ATTEMPTS = 64;

/**
 * Address management: unique MACs, one IPv4 and one IPv6 per NIC, pinned in the network's DHCP hosts.
 *
 * The provisioning flow is: `allocateMac` → `allocate` (both in the create's one SQLite transaction, so two
 * requests can never take the same address) → `pin(mac)` → define the domain with `cleanTrafficFor(mac)` in its
 * NIC. On failure or when the domain is deleted: `unpin`, then `forget` (which takes the caller's own writes
 * into its transaction); `release` does both, for addresses alone.
 */
export class IpamService {
  private readonly store: AddressStore;

  constructor(
    private readonly bus: LibvirtBus,
    private readonly db: Db,
    private readonly cache: StateCache,
    private readonly networks: NetworkService,
    private readonly sync: LibvirtSync,
    private readonly access: AccessPolicy,
  ) {
    this.store = new AddressStore(db);
  }

  private readonly releaseHooks: ((domainUuid: string) => Promise<void>)[] = [];

  /** Runs `fn` after a domain's addresses are released (the port forwards to it go with them). */
  onRelease(fn: (domainUuid: string) => Promise<void>): void {
    this.releaseHooks.push(fn);
  }

  /** A MAC in QEMU's 52:54:00 range that no lease and no known domain uses; leased to `domainUuid` until release. */
  allocateMac(domainUuid: string): string {
    const inUse = new Set<string>();
    for (const d of this.cache.domains.values()) for (const i of d.interfaces) if (i.mac) inUse.add(i.mac.toLowerCase());
    return transaction(this.db, () => {
      for (let i = 0; i < MAC_ATTEMPTS; i++) {
        const mac = `52:54:00:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
        if (inUse.has(mac) || this.store.macLeased(mac)) continue;
        this.store.leaseMac(mac, domainUuid);
        return mac;
      }
      throw new AddressExhaustedError('no unused MAC address found');
    });
  }

  /**
   * Takes one free IPv4 (from the DHCP range, else the subnet) and one IPv6 of the network for `mac`, in one
   * transaction. The IPv6 is the MAC's EUI-64 address when the subnet is a /64 (the guest configures it by
   * SLAAC; MACs are unique, so are these), else the first free one of the subnet (the guest must be given it).
   * A MAC that already has addresses on that network gets them back.
   * ADDRESS_EXHAUSTED when either family has none left; then nothing is recorded.
   */
  allocate(req: { networkUuid: string; domainUuid: string; mac?: string | null }): NicAddresses {
    const network = this.cache.networks.get(req.networkUuid);
    if (!network) throw new NotFoundError('network', req.networkUuid);
    const mac = req.mac?.toLowerCase() ?? this.allocateMac(req.domainUuid);
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) throw new ValidationError(`not a MAC address: ${mac}`, 'mac');
    const pools = { ipv4: this.poolOf(network.ipv4), ipv6: this.poolOf(network.ipv6) };
    return transaction(this.db, () => {
      const existing = this.store.allocationByMac(mac);
      if (existing) {
        if (existing.networkUuid !== network.uuid) throw new ValidationError(`MAC ${mac} already has addresses on another network`, 'mac');
        return this.row(existing);
      }
      const rows = this.store.allocationsOn(network.uuid);
      const pick = (family: 'ipv4' | 'ipv6'): string | null => {
        const pool = pools[family];
        if (!pool) return null;
        const taken = this.takenIn(
          network[family],
          rows.map((r) => r[family]),
        );
        const ip = firstFree(pool.ranges, taken, pool.excluded);
        if (!ip) throw new AddressExhaustedError(`network ${network.name} has no free ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address left`);
        return formatIp(ip);
      };
      const ipv4 = pick('ipv4');
      const ipv6 =
        this.slaacIfFree(
          network,
          mac,
          rows.map((r) => r.ipv6),
        ) ?? pick('ipv6');
      if (MAC.test(mac) && !this.store.macLeased(mac)) this.store.leaseMac(mac, req.domainUuid);
      const created = { mac, networkUuid: network.uuid, domainUuid: req.domainUuid, ipv4, ipv6 };
      this.store.insertAllocation(created);
      const pinned = hasDhcpHost(network, mac, ipv4);
      return { ...created, pinned, ...assignments(network, { mac, ipv4, ipv6, pinned }) };
    });
  }

  /** Whether `pin` has anything to do for this allocation: an IPv4 on a cached network with DHCP, not pinned yet. */
  needsPin(alloc: NicAddresses): boolean {
    const network = this.cache.networks.get(alloc.networkUuid);
    return !alloc.pinned && !!alloc.ipv4 && !!network?.ipv4?.dhcpRanges.length;
  }

  /**
   * Pins the MAC's IPv4 as a DHCP host of its network (libvirt ip-dhcp-host add; live and config when the
   * network runs, config otherwise). A network without DHCP has nothing to pin. Idempotent. Whether it is
   * pinned is read from the network's DHCP hosts, not recorded: a pin costs no SQLite commit.
   */
  async pin(mac: string): Promise<NicAddresses> {
    const alloc = this.addressesOf(mac);
    if (!alloc) throw new NotFoundError('address allocation', mac);
    const network = this.cache.networks.get(alloc.networkUuid);
    if (!network) throw new NotFoundError('network', alloc.networkUuid);
    if (!this.needsPin(alloc)) return alloc;
    const host = { mac: alloc.mac, ip: alloc.ipv4! }; // needsPin: it has an IPv4
    try {
      await addDhcpHost(this.bus, network, host);
    } catch (err) {
      throw fromLibvirt(err, { kind: 'network', id: network.uuid });
    }
    // virNetworkUpdate sends no event: the cache learns of the new host from us.
    await this.sync.amendNetwork(network.path, (n) => withDhcpHost(n, host, true));
    return { ...alloc, pinned: true, ipv4Assignment: 'DHCP' };
  }

  /** Unpins and forgets every address and MAC of a domain. A DHCP entry or network already gone is fine. */
  async release(domainUuid: string): Promise<void> {
    await this.unpin(domainUuid);
    await this.forget(domainUuid);
  }

  /** Removes the domain's DHCP host entries from their networks (the first half of `release`). */
  async unpin(domainUuid: string): Promise<void> {
    const rows = this.store.allocationsOf(domainUuid);
    for (const r of rows) {
      const network = this.cache.networks.get(r.networkUuid);
      if (!network || !r.ipv4 || !hasDhcpHost(network, r.mac, r.ipv4)) continue;
      try {
        await deleteDhcpHost(this.bus, network, { mac: r.mac, ip: r.ipv4 });
      } catch (err) {
        // Usually unpinned by hand already or the network redefined: the entry is gone, which is what we want.
        if (!(err instanceof LibvirtError) || err.kind === 'UNAVAILABLE') throw fromLibvirt(err);
        // Whatever libvirt kept (e.g. the network stopped meanwhile), the cache must show it: the address counts
        // as taken while some DHCP host entry still names it.
        await this.sync.refreshNetwork(network.path).catch(() => undefined);
        continue;
      }
      await this.sync.amendNetwork(network.path, (n) => withDhcpHost(n, { mac: r.mac, ip: r.ipv4! }, false));
    }
  }

  /**
   * Forgets the domain's addresses and MAC, free for other domains from now on (the second half of `release`).
   * What hangs on the addresses goes first (the release hooks: port forwards); then the rows, in one
   * transaction with `alongside` (a caller's own writes that belong with them), whose result it answers with.
   */
  async forget<T = void>(domainUuid: string, alongside: (tx: Transaction) => T = () => undefined as T): Promise<T> {
    for (const fn of this.releaseHooks) await fn(domainUuid);
    return transaction(this.db, (tx) => {
      this.store.forgetDomain(domainUuid);
      return alongside(tx);
    });
  }

  /** Whether the domain holds a MAC lease or an address. */
  holdsAny(domainUuid: string): boolean {
    return this.store.hasMacLeases(domainUuid) || this.store.allocationsOf(domainUuid).length > 0;
  }

  /** Domains holding a MAC lease or an address (for reconciliation against the domains libvirt has). */
  leaseholders(): Set<string> {
    return this.store.leaseholders();
  }

  addressesOf(mac: string): NicAddresses | null {
    const r = this.store.allocationByMac(mac.toLowerCase());
    return r ? this.row(r) : null;
  }

  /** The domain's allocation with an IPv4 (its first NIC that has one), e.g. the target of a port forward. */
  primaryIpv4(domainUuid: string): NicAddresses | null {
    const rows = this.store.allocationsOf(domainUuid);
    const r = rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.mac.localeCompare(b.mac)).find((x) => x.ipv4);
    return r ? this.row(r) : null;
  }

  private row(r: AllocationRow): NicAddresses {
    const network = this.cache.networks.get(r.networkUuid);
    const pinned = hasDhcpHost(network, r.mac, r.ipv4);
    return {
      mac: r.mac,
      networkUuid: r.networkUuid,
      domainUuid: r.domainUuid,
      ipv4: r.ipv4,
      ipv6: r.ipv6,
      pinned,
      ...assignments(network, { ...r, pinned }),
    };
  }

  /**
   * The MAC's SLAAC address on the network, unless something holds it already (the host's own address, a
   * hand-made allocation, a DHCP host someone pinned): then the caller falls back to a STATIC one.
   */
  private slaacIfFree(network: NetworkRecord, mac: string, ours: (string | null)[]): string | null {
    const slaac = slaacAddress(network, mac);
    if (!slaac || !network.ipv6) return null;
    const value = parseIp(slaac)!.value;
    const host = parseIp(network.ipv6.address)?.value;
    return value === host || this.takenIn(network.ipv6, ours).has(value) ? null : slaac;
  }

  allocations(): NicAddresses[] {
    return this.store.allAllocations().map((r) => this.row(r));
  }

  /**
   * What the provisioning flow puts into the NIC's `<filterref>` (see libvirt/xml/nwfilter.ts), or null when
   * the network's anti-spoofing is off or the driver has no nwfilter support.
   */
  cleanTrafficFor(mac: string): CleanTrafficParams | null {
    const alloc = this.addressesOf(mac);
    if (!alloc) throw new NotFoundError('address allocation', mac);
    const s = this.networks.antiSpoofing(alloc.networkUuid);
    if (!s.enabled || !s.supported) return null;
    return { ipv4: alloc.ipv4 ? [alloc.ipv4] : [], ipv6: alloc.ipv6 ? [alloc.ipv6] : [] };
  }

  /** The network's allocations: all for admins, only those of the viewer's own domains for tenants. */
  leases(viewer: Viewer, networkUuid: string): Lease[] {
    const rows = this.store.allocationsOn(networkUuid);
    const out: Lease[] = [];
    for (const r of rows) {
      const domain = this.cache.domains.get(r.domainUuid) ?? null;
      const visible = isAdmin(viewer) || (domain !== null && this.access.canSeeDomain(viewer, domain));
      if (visible) out.push({ ...this.row(r), domain: domain && this.access.canSeeDomain(viewer, domain) ? domain : null });
    }
    const key = (l: Lease) => (l.ipv4 ? (parseIp(l.ipv4)?.value ?? 0n) : -1n);
    return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.mac.localeCompare(b.mac)));
  }

  /** How many IPv4 addresses the network can still hand out (null when it has no IPv4). */
  /** IPv4 addresses still free for new NICs: admins only (null for tenants) and null for networks without IPv4. */
  freeIpv4(viewer: Viewer, network: NetworkRecord): number | null {
    if (!isAdmin(viewer)) return null;
    const pool = this.poolOf(network.ipv4);
    if (!pool) return null;
    const rows = this.store.allocationsOn(network.uuid);
    return Number(
      countFree(
        pool.ranges,
        this.takenIn(
          network.ipv4,
          rows.map((r) => r.ipv4),
        ),
        pool.excluded,
      ),
    );
  }

  private poolOf(address: NetworkAddress | null): Pool | null {
    return address ? allocationPool(address.address, address.prefix, address.dhcpRanges) : null;
  }

  /** Addresses in use: our allocations plus DHCP hosts someone else pinned in the network. */
  private takenIn(address: NetworkAddress | null, ours: (string | null)[]): Set<bigint> {
    const taken = new Set<bigint>();
    for (const text of [...ours, ...(address?.dhcpHosts.map((h) => h.ip) ?? [])]) {
      const ip = text ? parseIp(text) : null;
      if (ip) taken.add(ip.value);
    }
    return taken;
  }
}
