import type { Db } from '../../db/index.js';
import { NetworkSettingsStore } from '../../db/stores/network.js';
import type { LibvirtBus } from '../../libvirt/bus.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import { networkActions, setNetworkAutostart } from '../../libvirt/network.js';
import type { HostObjects } from '../instance/index.js';
import type { NetworkRecord } from '../../model/index.js';
import { formatIp, parseIp, subnetOf } from './addresses.js';
import { NetworkInput, type CreateNetworkInput } from './network-input.js';
import type { AccessPolicy, Viewer } from '../access/index.js';
import { fromLibvirt, InUseError, InvalidStateError, NotFoundError } from '../errors.js';
import type { LibvirtSync, StateCache } from '../sync/index.js';

/** What virtplane adds to a libvirt network: its anti-spoofing setting and whether the driver can honour it. */
export interface AntiSpoofingView {
  enabled: boolean;
  supported: boolean;
}

/**
 * Networks: read by everyone (tenants pick one for their NICs), defined and driven by admins. Mutations
 * answer from the state the sync pipeline committed after the change.
 */
export class NetworkService {
  private nwfilter = false;
  /** The create in progress, if any: the next waits for it (see `create`). */
  private creating: Promise<unknown> = Promise.resolve();
  /** Read for every NIC a create makes (anti-spoofing) and for every OPEN network shown: prepared once. */
  private readonly store: NetworkSettingsStore;

  private get bus(): LibvirtBus {
    return this.libvirt.bus;
  }

  constructor(
    private readonly libvirt: LibvirtClient,
    db: Db,
    private readonly cache: StateCache,
    private readonly sync: LibvirtSync,
    private readonly access: AccessPolicy,
    /** Whether NAT networks are run by virtplane (nftables on) rather than by libvirt's own NAT mode. */
    private readonly managedNat = false,
    /** This instance's nwfilter names and its record of the networks it made (for `npm run remove`). */
    private readonly instance: { nwfilterPrefix?: string; hostObjects?: HostObjects } = {},
  ) {
    this.store = new NetworkSettingsStore(db);
  }

  private readonly natListeners: (() => void)[] = [];

  /** Called whenever a virtplane NAT network appears or goes, so the firewall can be rewritten. */
  onNatChange(listener: () => void): void {
    this.natListeners.push(listener);
  }

  /**
   * The forward mode users see. A virtplane NAT network is an `open` network to libvirt, NAT to everyone
   * else: its masquerade and port forwards live in virtplane's nftables table.
   */
  forwardModeOf(network: NetworkRecord): NetworkRecord['forwardMode'] {
    if (network.forwardMode !== 'OPEN') return network.forwardMode;
    return this.settings(network.uuid)?.managedNat ? 'NAT' : 'OPEN';
  }

  /** The subnets virtplane masquerades: every virtplane NAT network libvirt still has. */
  natSubnets(): { uuid: string; network: string; prefix: number; bridge: string }[] {
    const out = [];
    for (const networkUuid of this.store.managedNat()) {
      const n = this.cache.networks.get(networkUuid);
      const ip = n?.ipv4 ? parseIp(n.ipv4.address) : null;
      if (!n || !ip || !n.bridge) continue;
      out.push({
        uuid: n.uuid,
        network: formatIp({ family: ip.family, value: subnetOf(ip, n.ipv4!.prefix).first }),
        prefix: n.ipv4!.prefix,
        bridge: n.bridge,
      });
    }
    return out;
  }

  /** virtplane's own settings of a network, when it has any. */
  private settings(networkUuid: string) {
    return this.store.of(networkUuid);
  }

  private natChanged(): void {
    for (const l of this.natListeners) l();
  }

  /**
   * Asks the driver once whether it can filter NICs (the test driver cannot) and, where it can, defines
   * virtplane's anti-spoofing filters. A failed probe reports "unsupported" rather than stopping the server.
   */
  async probe(onError: (err: unknown) => void = () => {}): Promise<void> {
    try {
      this.nwfilter = await this.libvirt.nwfilter.installCleanTraffic(this.instance.nwfilterPrefix);
    } catch (err) {
      this.nwfilter = false;
      onError(err);
    }
  }

  list(_viewer: Viewer): readonly NetworkRecord[] {
    return this.cache.sortedNetworks();
  }

  get(_viewer: Viewer, uuid: string): NetworkRecord {
    const n = this.cache.networks.get(uuid);
    if (!n) throw new NotFoundError('network', uuid);
    return n;
  }

  /** Whether this host has a network of that UUID. */
  has(uuid: string): boolean {
    return this.cache.networks.has(uuid);
  }

  find(_viewer: Viewer, uuid: string): NetworkRecord | null {
    return this.cache.networks.get(uuid) ?? null;
  }

  byName(name: string): NetworkRecord | undefined {
    for (const n of this.cache.networks.values()) if (n.name === name) return n;
    return undefined;
  }

  antiSpoofing(networkUuid: string): AntiSpoofingView {
    return { enabled: this.settings(networkUuid)?.antiSpoofing ?? true, supported: this.nwfilter };
  }

  setAntiSpoofing(viewer: Viewer, uuid: string, enabled: boolean): NetworkRecord {
    this.access.requireAdmin(viewer);
    const network = this.get(viewer, uuid);
    this.store.set(uuid, { antiSpoofing: enabled });
    return network;
  }

  /**
   * Defines (and optionally starts) a network. Creates run one at a time: each is checked against the cache,
   * which learns of a network only once its define has been re-read, so two at once would both pass the
   * overlap and bridge checks.
   */
  create(viewer: Viewer, input: CreateNetworkInput): Promise<NetworkRecord> {
    this.access.requireAdmin(viewer);
    const run = this.creating.then(() => this.createNow(input));
    this.creating = run.catch(() => undefined);
    return run;
  }

  private async createNow(input: CreateNetworkInput): Promise<NetworkRecord> {
    const spec = new NetworkInput(() => this.cache.networks.values()).validate(input);
    // libvirt's own NAT mode rejects every new connection into the network, port forwards included.
    const managedNat = spec.forwardMode === 'NAT' && this.managedNat;
    if (managedNat) spec.forwardMode = 'OPEN';
    // A name taken already (CONFLICT) is someone else's network: only a new one gets a record.
    const recorded = ![...this.cache.networks.values()].some((n) => n.name === spec.name);
    if (recorded) this.instance.hostObjects?.record('network', spec.name);
    const path = await this.libvirt.networks.define(spec).catch((err: unknown) => {
      if (recorded) this.instance.hostObjects?.forget('network', spec.name);
      throw fromLibvirt(err);
    });
    let uuid: string | undefined;
    try {
      if (managedNat) {
        uuid = (await this.sync.refreshNetwork(path))?.uuid;
        if (!uuid) throw new NotFoundError('network', spec.name);
        this.store.set(uuid, { managedNat: true });
      }
      if (input.autostart) await setNetworkAutostart(this.bus, path, true);
      if (input.start) await networkActions.create(this.bus, path);
    } catch (err) {
      // Undo the define so that a retry with the same name does not meet CONFLICT.
      await networkActions.undefine(this.bus, path).catch(() => {});
      await this.sync.refreshNetwork(path).catch(() => undefined);
      if (uuid) this.store.forget(uuid);
      if (recorded) this.instance.hostObjects?.forget('network', spec.name);
      throw fromLibvirt(err);
    }
    const after = await this.sync.refreshNetwork(path);
    if (!after) throw new NotFoundError('network', spec.name);
    if (managedNat) this.natChanged();
    return after;
  }

  start(viewer: Viewer, uuid: string): Promise<NetworkRecord> {
    return this.act(viewer, uuid, (path, n) => {
      if (n.active) throw new InvalidStateError(`network ${n.name} is already running`);
      return networkActions.create(this.bus, path);
    });
  }

  /** Stops a running network (some drivers, like the test driver, would accept stopping a stopped one). */
  stop(viewer: Viewer, uuid: string): Promise<NetworkRecord> {
    return this.act(viewer, uuid, (path, n) => {
      if (!n.active) throw new InvalidStateError(`network ${n.name} is not running`);
      return networkActions.destroy(this.bus, path);
    });
  }

  setAutostart(viewer: Viewer, uuid: string, autostart: boolean): Promise<NetworkRecord> {
    return this.act(viewer, uuid, (path) => setNetworkAutostart(this.bus, path, autostart));
  }

  /**
   * Stops and undefines a network no domain uses (IN_USE while a domain has a NIC on it or holds its
   * addresses); answers with its last state (stopped, shown in the mode it was made with).
   */
  async delete(viewer: Viewer, uuid: string): Promise<NetworkRecord> {
    this.access.requireAdmin(viewer);
    const network = this.get(viewer, uuid);
    const users = [...this.cache.domains.values()].filter((d) =>
      d.interfaces.some((i) => i.network === network.name || (network.bridge !== null && i.bridge === network.bridge)),
    );
    if (users.length) {
      throw new InUseError(
        `network ${network.name} is used by ${users.length} domain(s): ${users
          .slice(0, 5)
          .map((d) => d.name)
          .join(', ')}`,
      );
    }
    const held = this.store.allocationsIn(uuid);
    if (held) throw new InUseError(`network ${network.name} still has ${held} address allocation(s)`);
    try {
      if (network.active) await networkActions.destroy(this.bus, network.path);
      if (network.persistent) await networkActions.undefine(this.bus, network.path);
    } catch (err) {
      throw fromLibvirt(err, { kind: 'network', id: uuid });
    }
    await this.sync.refreshNetwork(network.path);
    this.instance.hostObjects?.forget('network', network.name);
    // Read before its settings go: a virtplane NAT network is an `open` one in libvirt (forwardModeOf).
    const last = { ...network, active: false, forwardMode: this.forwardModeOf(network) };
    const settings = this.store.forget(uuid);
    if (settings?.managedNat) this.natChanged();
    return last;
  }

  private async act(viewer: Viewer, uuid: string, fn: (path: string, network: NetworkRecord) => Promise<unknown>): Promise<NetworkRecord> {
    this.access.requireAdmin(viewer);
    const network = this.get(viewer, uuid);
    try {
      await fn(network.path, network);
    } catch (err) {
      throw fromLibvirt(err, { kind: 'network', id: uuid });
    }
    const after = await this.sync.refreshNetwork(network.path);
    if (!after) throw new NotFoundError('network', uuid);
    return after;
  }
}
