import type { LibvirtClient } from '../../libvirt/client.js';
import type { HostInfo } from '../../model/index.js';
import type { DomainTypeChoice } from './domain-type.js';
import type { LibvirtSync } from '../sync/index.js';

export interface HostView extends HostInfo {
  driver: string;
  /** libvirt domain type of the guests virtplane creates: kvm, qemu (TCG) or test. */
  domainType: string;
  /** Why that type: configured, kvm not offered, the kvm probe's outcome (with QEMU's message when it failed). */
  domainTypeReason: string;
  /** True while libvirt is unreachable and answers come from the last known state. */
  stale: boolean;
}

export class HostService {
  constructor(
    private readonly libvirt: LibvirtClient,
    private readonly driver: string,
    private readonly domainType: DomainTypeChoice,
    private readonly sync: LibvirtSync,
  ) {}

  info(): HostView {
    const host = this.sync.host ?? { hostname: '', libvirtVersion: '', cpus: 0, memoryMiB: 0 };
    return {
      ...host,
      driver: this.driver,
      domainType: this.domainType.type,
      domainTypeReason: this.domainType.reason,
      stale: !this.sync.connected,
    };
  }

  /** A live round trip to libvirt, for /healthz. */
  async healthy(): Promise<boolean> {
    try {
      await this.libvirt.host.ping();
      return true;
    } catch {
      return false;
    }
  }
}
