import type { NetworkRecord } from '../../model/index.js';
import { isAdmin, type Viewer } from '../access/index.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { AntiSpoofingView, CreateNetworkInput, NetworkService } from '../network/index.js';
import type { HostedKey } from './keys.js';
import type { ServedHosts } from './served.js';

/**
 * The networks of every served host as one: each host has its own (the same name may be on several), reached
 * by key; what belongs to a network (its forward mode, anti-spoofing) is read on its host.
 */
export class FleetNetworks {
  constructor(private readonly served: ServedHosts) {}

  keyOf(n: NetworkRecord): string {
    return this.served.keys.keyOf(n);
  }

  /** The host and UUID a key names (host -1: none served here). */
  locate(key: string): HostedKey {
    return this.served.keys.parse(key);
  }

  /** Networks in connection order (name, then key). */
  list(viewer: Viewer): readonly NetworkRecord[] {
    return this.served.merged(
      (m) => m.networks.list(viewer),
      (n) => n.name,
    );
  }

  find(viewer: Viewer, key: string): NetworkRecord | null {
    const at = this.served.locate(key);
    return at ? at.member.networks.find(viewer, at.uuid) : null;
  }

  /** The network of that name on the host `hostId` (a NIC's network is on its domain's host). */
  byName(name: string, hostId?: number): NetworkRecord | undefined {
    return this.served.of({ hostId })?.networks.byName(name);
  }

  // A network of a host no longer served still shows in events: as its record says, without what its host adds.

  forwardModeOf(n: NetworkRecord): NetworkRecord['forwardMode'] {
    return this.served.of(n)?.networks.forwardModeOf(n) ?? n.forwardMode;
  }

  antiSpoofing(n: NetworkRecord): AntiSpoofingView {
    return this.served.of(n)?.networks.antiSpoofing(n.uuid) ?? { enabled: false, supported: false };
  }

  /** On the host named (its row id), else on the host the server runs beside. */
  create(viewer: Viewer, input: CreateNetworkInput & { host?: string | null }): Promise<NetworkRecord> {
    const { host, ...spec } = input;
    const member = host == null ? this.served.local : this.served.members.find((m) => String(m.hostId) === host);
    // A tenant is refused as such by the network service, whatever host it names.
    if (!member && isAdmin(viewer)) return Promise.reject(new NotFoundError('host', host!));
    return (member ?? this.served.local).networks.create(viewer, spec);
  }

  setAntiSpoofing(viewer: Viewer, key: string, enabled: boolean): NetworkRecord {
    const at = this.served.locate(key);
    if (!at) throw new NotFoundError('network', key);
    if (isAdmin(viewer)) this.requireUnique(at.member.hostId, at.uuid);
    return at.member.networks.setAntiSpoofing(viewer, at.uuid, enabled);
  }

  start(viewer: Viewer, key: string): Promise<NetworkRecord> {
    return this.routed(key, (s, uuid) => s.start(viewer, uuid));
  }

  stop(viewer: Viewer, key: string): Promise<NetworkRecord> {
    return this.routed(key, (s, uuid) => s.stop(viewer, uuid));
  }

  setAutostart(viewer: Viewer, key: string, autostart: boolean): Promise<NetworkRecord> {
    return this.routed(key, (s, uuid) => s.setAutostart(viewer, uuid, autostart));
  }

  delete(viewer: Viewer, key: string): Promise<NetworkRecord> {
    return this.routed(key, (s, uuid, hostId) => {
      if (isAdmin(viewer)) this.requireUnique(hostId, uuid);
      return s.delete(viewer, uuid);
    });
  }

  /**
   * A network's settings (anti-spoofing) and addresses are still kept by UUID alone: one whose UUID another
   * served host's network also has (each test-driver host's `default`) has neither changed nor deleted here.
   */
  private requireUnique(hostId: number, uuid: string): void {
    if (this.served.members.some((m) => m.hostId !== hostId && m.networks.has(uuid))) {
      throw new ConflictError(
        'another host has a network of the same UUID: virtplane keeps network settings and addresses by UUID, so neither is changed or deleted until one of them is gone',
      );
    }
  }

  private async routed(
    key: string,
    run: (s: NetworkService, uuid: string, hostId: number) => Promise<NetworkRecord>,
  ): Promise<NetworkRecord> {
    const at = this.served.locate(key);
    if (!at) throw new NotFoundError('network', key);
    return run(at.member.networks, at.uuid, at.member.hostId);
  }
}
