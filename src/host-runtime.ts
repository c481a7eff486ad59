import type { Logger } from 'pino';
import type { HostStore } from './db/stores/hosts.js';
import { type BusTarget, LibvirtBus } from './libvirt/bus.js';
import { LibvirtClient } from './libvirt/client.js';
import { GraphicsConsoles } from './libvirt/graphics.js';
import { TEMPLATE_CPU_MODE } from './services/domains/index.js';
import type { EventStream } from './services/events/index.js';
import { HostRegistry, type ServedHost } from './services/hosts/index.js';
import { chooseDomainType, type DomainTypeChoice, HostService } from './services/instance/index.js';
import { LibvirtSync, StateCache } from './services/sync/index.js';

/**
 * What runs for one host beside its libvirt: its bus connections, its libvirt client, the domain type its
 * guests get, its state cache and the sync pipeline that fills it. What a host agent owns once agents run
 * apart (ARCHITECTURE.md, "Several hosts"); in process today, one per host the server serves.
 */
export interface HostRuntime {
  /** The host's row in the hosts table. */
  id: number;
  bus: LibvirtBus;
  /** Its own bus connection, opened on the first graphical console (fd passing needs another transport). */
  graphics: GraphicsConsoles;
  /** Every service reaches this host's libvirt through it. */
  libvirt: LibvirtClient;
  domainType: DomainTypeChoice;
  cache: StateCache;
  sync: LibvirtSync;
  /** The host as placement and the hosts API see it. */
  served: ServedHost;
}

export interface HostRuntimeOptions {
  target: BusTarget;
  /** libvirt-dbus's driver path segment: Test or QEMU. */
  driver: string;
  /** VIRTPLANE_DOMAIN_TYPE. */
  domainType: 'auto' | 'kvm' | 'qemu';
  resyncCheckMs?: number;
  /**
   * The host's name in the hosts table, for a host other than the one the server runs beside (recorded under
   * it on the first start, found by it later). Absent: the local host (`HostRegistry.recordLocal`).
   */
  name?: string;
}

/**
 * Connects to a host's libvirt (the host the server runs beside: recorded on the first start), chooses the
 * domain type of its new guests, then loads its state and follows it (events through `stream`, stamped with
 * the host). Whatever it started is handed to `cleanup` as it starts, to be stopped in reverse.
 */
export async function startHostRuntime(
  opts: HostRuntimeOptions,
  hosts: HostStore,
  stream: EventStream,
  log: Logger,
  cleanup: (stop: () => Promise<void> | void) => void,
): Promise<HostRuntime> {
  const bus = await LibvirtBus.connect(opts.target);
  cleanup(() => bus.disconnect());
  const graphics = new GraphicsConsoles(opts.target);
  cleanup(() => graphics.close());
  const libvirt = new LibvirtClient(bus, `/org/libvirt/${opts.driver}`);
  // Before the sync subscribes to libvirt's signals: the probe's throwaway guest is never announced.
  const domainType = await chooseDomainType(libvirt, { driver: opts.driver, configured: opts.domainType, cpuMode: TEMPLATE_CPU_MODE });
  log.info({ domainType: domainType.type, reason: domainType.reason }, 'domain type of new guests chosen');
  // Recorded before its sync writes anything that names it.
  const id =
    opts.name !== undefined
      ? hosts.ensure(opts.name).id
      : await HostRegistry.recordLocal(hosts, async () => (await libvirt.host.readInfo()).hostname);
  const cache = new StateCache(id);
  const sync = new LibvirtSync(libvirt, cache, stream.forHost(id), log.child({ component: 'sync' }), opts.resyncCheckMs);
  cleanup(() => sync.stop());
  await sync.start();
  const served: ServedHost = {
    id,
    view: new HostService(libvirt, opts.driver, domainType, sync),
    cache,
    watch: (listener) => sync.onConnectedChange(listener),
  };
  return { id, bus, graphics, libvirt, domainType, cache, sync, served };
}
