import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { DEFAULT_CONSOLE, DEFAULT_EVENTS, type Config } from './config.js';
import { openDatabase } from './db/index.js';
import { buildSchema } from './graphql/schema.js';
import { ConsoleRoutes } from './http/console.js';
import { LibvirtBus } from './libvirt/bus.js';
import { GraphicsConsoles } from './libvirt/graphics.js';
import { hostDomainTypes } from './libvirt/connect.js';
import { StoragePaths } from './libvirt/storage.js';
import type { DomainType } from './libvirt/xml/domain-builder.js';
import { startEmbeddedStack, type EmbeddedStack } from './libvirt/embedded.js';
import { AuditService } from './services/audit.js';
import { AuthService } from './services/auth.js';
import { AccessPolicy } from './services/authorization.js';
import { ConsoleService } from './services/console/index.js';
import { DomainEventService } from './services/domain-events.js';
import { DomainService } from './services/domains.js';
import { EventLog } from './services/event-log.js';
import { EventStream } from './services/event-stream.js';
import { HostService } from './services/host.js';
import { ImageService } from './services/images.js';
import { LibvirtSync } from './services/libvirt-sync.js';
import { MediaService } from './services/media.js';
import { NetworkEventService } from './services/network-events.js';
import { NetworkService } from './services/networks.js';
import { OwnershipStore } from './services/ownership.js';
import { ProvisioningService } from './services/provisioning.js';
import { QuotaService } from './services/quotas.js';
import { SubscriptionRegistry } from './services/subscriptions.js';
import { UserService } from './services/users.js';
import { IpamService } from './services/ipam.js';
import { PortForwardService } from './services/port-forwards.js';
import type { Services } from './services/registry.js';
import { StateCache } from './services/state-cache.js';
import { startHttpServer } from './server.js';

/** `test` on the Test driver; on QEMU the configured type, or with `auto` kvm when libvirt offers it, else qemu (TCG). */
async function resolveDomainType(config: Config, bus: LibvirtBus, driverPath: string): Promise<DomainType> {
  if (config.driver === 'Test') return 'test';
  if (config.provisioning.domainType !== 'auto') return config.provisioning.domainType;
  return (await hostDomainTypes(bus, driverPath)).includes('kvm') ? 'kvm' : 'qemu';
}

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

    const busTarget = config.bus ?? { kind: 'address' as const, address: embedded!.address };
    const bus = await LibvirtBus.connect(busTarget);
    cleanups.push(() => bus.disconnect());
    // Its own bus connection, opened on the first graphical console (fd passing needs another transport).
    const graphics = new GraphicsConsoles(busTarget);
    cleanups.push(() => graphics.close());

    const driverPath = `/org/libvirt/${config.driver}`;
    const cache = new StateCache();
    const owners = new OwnershipStore(db);
    const access = new AccessPolicy(owners);
    const events = config.events ?? DEFAULT_EVENTS;
    const stream = new EventStream(new EventLog(db), access, events, log.child({ component: 'events' }), { bufferLimit: events.bufferLimit });
    stream.start();
    cleanups.push(() => stream.stop());
    // Shared: a volume provisioning creates is known to the re-reads that follow without a lookup.
    const storagePaths = new StoragePaths(bus, driverPath);
    const sync = new LibvirtSync(
      bus,
      driverPath,
      cache,
      stream,
      log.child({ component: 'sync' }),
      storagePaths,
      config.resyncCheckMs,
    );
    cleanups.push(() => sync.stop());
    await sync.start();

    const auth = new AuthService(db);
    const domains = new DomainService(bus, cache, sync, access);
    const users = new UserService(db, access);
    const quotas = new QuotaService(db, access);
    const subscriptions = new SubscriptionRegistry(config.limits.maxSubscriptionsPerToken);
    users.on('revoked', (tokenIds) => subscriptions.closeTokens(tokenIds));
    const images = new ImageService(db, bus, driverPath, config.imagePools, access);
    // With nftables on, NAT networks are virtplane's own (libvirt's NAT mode refuses port-forwarded traffic).
    const networks = new NetworkService(bus, driverPath, db, cache, sync, access, config.nft.binary !== null);
    await networks.probe((err) => log.warn({ err: String(err) }, 'nwfilter probe failed; anti-spoofing reported unsupported'));
    const ipam = new IpamService(bus, db, cache, networks, sync, access);
    // QEMU listens on each new guest's serial socket here (libvirt creates the socket, owned by the qemu user).
    const serialSocketDir = config.driver === 'Test' ? null : join(config.dataDir, 'run', 'serial');
    if (serialSocketDir) mkdirSync(serialSocketDir, { recursive: true, mode: 0o700 });
    const domainType = await resolveDomainType(config, bus, driverPath);
    const provisioning = new ProvisioningService(
      bus,
      driverPath,
      db,
      cache,
      sync,
      access,
      domains,
      owners,
      quotas,
      users,
      ipam,
      images,
      { ...config.provisioning, domainType, serialSocketDir },
      log.child({ component: 'provisioning' }),
      storagePaths,
    );
    let apiPort: number | null = config.port || null;
    const consoleConfig = config.console ?? DEFAULT_CONSOLE;
    let listeningUrl = '';
    const audit = new AuditService(db, access);
    const consoles = new ConsoleService(
      bus,
      domains,
      auth,
      audit,
      graphics,
      config.publicHost,
      { sshTunnel: consoleConfig.sshTunnel, ticketTtlMs: consoleConfig.ticketTtlMs, serialSocketDir, publicUrl: () => consoleConfig.publicUrl ?? listeningUrl },
      (uuid, err) => log.warn({ domain: uuid, err: String(err) }, 'serial console connection failed'),
    );
    const portForwards = new PortForwardService(db, cache, ipam, networks, access, quotas, config.nft, log.child({ component: 'nftables' }), () => apiPort);
    ipam.onRelease((domainUuid) => portForwards.releaseDomain(domainUuid));
    networks.onNatChange(() => void portForwards.start());
    await portForwards.start();
    const services: Services = {
      auth,
      access,
      domains,
      networks,
      ipam,
      portForwards,
      host: new HostService(bus, driverPath, config.driver, domainType, sync),
      users,
      quotas,
      provisioning,
      audit,
      subscriptions,
      images,
      media: new MediaService(bus, sync, domains, images),
      console: consoles,
      domainEvents: new DomainEventService(stream, access, cache),
      networkEvents: new NetworkEventService(stream, access),
    };
    const { generatedToken } = auth.bootstrapAdmin(config.adminToken);
    await provisioning.start();
    // A domain undefined outside virtplane (e.g. `virsh undefine`) frees its owner's quota and addresses —
    // once it is really gone: a renamed one, or a running one that became transient, still exists.
    const undefinedDomains = stream.domains.subscribe((e) => e.type === 'UNDEFINED' && !cache.domains.has(e.domain.uuid));
    void (async () => {
      for await (const e of undefinedDomains) {
        await provisioning.forget(e.domain.uuid).catch((err) => log.warn({ err: String(err), domain: e.domain.uuid }, 'releasing an undefined domain failed'));
      }
    })().catch((err) => log.error({ err }, 'releasing quota of undefined domains stopped'));
    cleanups.push(() => void undefinedDomains.return?.());
    // Consoles follow access: a revoked token, a domain handed on, stopped or deleted closes its sessions.
    users.on('revoked', (tokenIds) => consoles.tokensRevoked(tokenIds));
    provisioning.onAssigned((uuid) => consoles.domainAssigned(uuid));
    const consoleEvents = stream.domains.subscribe((e) => ['STARTED', 'RESUMED', 'STOPPED', 'UNDEFINED'].includes(e.type), { bufferLimit: 100_000 });
    void (async () => {
      for await (const e of consoleEvents) consoles.domainEvent(e.type, e.domain.uuid);
    })().catch((err) => log.error({ err }, 'console lifecycle handling stopped'));
    cleanups.push(() => void consoleEvents.return?.());
    for (const d of cache.domains.values()) if (d.active) consoles.serial.running(d.uuid);

    const http = await startHttpServer(
      { schema: buildSchema(), services, log, graphiql: config.development, limits: config.limits, maxBufferedBytes: events.bufferLimit * 4096, console: new ConsoleRoutes(consoles) },
      config.host,
      config.port,
    );
    cleanups.push(() => http.close());
    apiPort = Number(new URL(http.url).port);
    listeningUrl = new URL(http.url).origin;
    // Before the HTTP server closes: each console session ends with its close reason and audit row.
    cleanups.push(() => consoles.stop());
    log.info({ url: http.url, driver: config.driver, embedded: embedded !== null }, 'virtplane listening');

    return { url: http.url, services, embedded, generatedAdminToken: generatedToken, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
