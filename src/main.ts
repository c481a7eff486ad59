import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';
import { openDatabase } from './db/index.js';
import { buildSchema } from './graphql/schema.js';
import { LibvirtBus } from './libvirt/bus.js';
import { startEmbeddedStack, type EmbeddedStack } from './libvirt/embedded.js';
import { AuthService } from './services/auth.js';
import { AccessPolicy } from './services/authorization.js';
import { DomainEventService } from './services/domain-events.js';
import { DomainService } from './services/domains.js';
import { EventHub } from './services/event-hub.js';
import type { DomainLifecycleEvent, NetworkLifecycleEvent } from './services/events.js';
import { HostService } from './services/host.js';
import { LibvirtSync } from './services/libvirt-sync.js';
import { IpamService } from './services/ipam.js';
import { NetworkService } from './services/networks.js';
import { PortForwardService } from './services/port-forwards.js';
import type { Services } from './services/registry.js';
import { StateCache } from './services/state-cache.js';
import { startHttpServer } from './server.js';

export interface Virtplane {
  url: string;
  services: Services;
  /** The embedded stack, when the server runs its own bus and libvirt-dbus. */
  embedded: EmbeddedStack | null;
  /** A bootstrap admin token generated on this start (printed once), if any. */
  generatedAdminToken: string | null;
  stop(): Promise<void>;
}

/**
 * The composition root: the only place that creates concrete instances and wires them together.
 * Order: embedded stack → database (migrated) → bus → cache loaded from libvirt → HTTP/WS listening.
 */
export async function startVirtplane(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<Virtplane> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    let embedded: EmbeddedStack | null = null;
    if (config.bus === null) {
      embedded = await startEmbeddedStack(join(config.dataDir, 'run'), { log: (msg, fields) => log.warn(fields ?? {}, msg) });
      cleanups.push(() => embedded!.stop());
    }
    const db = openDatabase(join(config.dataDir, 'virtplane.sqlite'));
    cleanups.push(() => {
      db.$client.close();
    });

    const bus = await LibvirtBus.connect(config.bus ?? { kind: 'address', address: embedded!.address });
    cleanups.push(() => bus.disconnect());

    const driverPath = `/org/libvirt/${config.driver}`;
    const cache = new StateCache();
    const domainHub = new EventHub<DomainLifecycleEvent>();
    const networkHub = new EventHub<NetworkLifecycleEvent>();
    const sync = new LibvirtSync(bus, driverPath, cache, domainHub, networkHub, log.child({ component: 'sync' }));
    cleanups.push(() => sync.stop());
    await sync.start();

    const access = new AccessPolicy();
    const auth = new AuthService(db);
    const networks = new NetworkService(bus, driverPath, db, cache, sync, access);
    await networks.probe((err) => log.warn({ err: String(err) }, 'nwfilter probe failed; anti-spoofing reported unsupported'));
    const ipam = new IpamService(bus, db, cache, networks, sync, access);
    const portForwards = new PortForwardService(db, cache, ipam, access, config.nft, log.child({ component: 'nftables' }));
    ipam.onRelease((domainUuid) => portForwards.releaseDomain(domainUuid));
    await portForwards.start();
    const services: Services = {
      auth,
      access,
      domains: new DomainService(bus, cache, sync, access),
      networks,
      ipam,
      portForwards,
      host: new HostService(bus, driverPath, config.driver, sync),
      domainEvents: new DomainEventService(domainHub, access),
    };
    const { generatedToken } = auth.bootstrapAdmin(config.adminToken);

    const http = await startHttpServer({ schema: buildSchema(), services, log, graphiql: config.development }, config.host, config.port);
    cleanups.push(() => http.close());
    log.info({ url: http.url, driver: config.driver, embedded: embedded !== null }, 'virtplane listening');

    return { url: http.url, services, embedded, generatedAdminToken: generatedToken, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
