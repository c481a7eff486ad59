import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { DEFAULT_CONSOLE, DEFAULT_EVENTS, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_USAGE_RETENTION_DAYS, type Config } from './config.js';
import { openDatabase, type Db } from './db/index.js';
import { DataDirInUseError, lockDataDir } from './db/lock.js';
import { isStorageFailure, keepBallast, releaseBallast } from './db/storage.js';
import { buildSchema } from './graphql/schema.js';
import { ConsoleRoutes } from './http/console.js';
import { MetricsRoute } from './http/metrics.js';
import { WebAppRoutes } from './http/web-app.js';
import { startEmbeddedStack, type EmbeddedStack } from './host/embedded.js';
import { RunDirInUseError } from './host/run-dir.js';
import { OwnershipStore } from './db/stores/ownership.js';
import { HostStore } from './db/stores/hosts.js';
import { UsageStore } from './db/stores/usage.js';
import { AccessPolicy, AuditService, AuthService, QuotaService, RateLimits, UserService } from './services/access/index.js';
import { ConsoleService } from './services/console/index.js';
import { DomainEventService, EventCursors, EventLog, EventStream, SubscriptionRegistry } from './services/events/index.js';
import { HostEventService, HostRegistry } from './services/hosts/index.js';
import { HostObjects, type InstanceNames, StorageHealth } from './services/instance/index.js';
import { MediaService } from './services/domains/index.js';
import { DefinedPoolStore } from './db/stores/storage.js';
import { ImageUploadService, StoragePoolService } from './services/storage/index.js';
import { NetworkEventService, PortForwardService } from './services/network/index.js';
import type { Services } from './services/registry.js';
import { MonitoringService } from './services/monitoring/index.js';
import { UsageService } from './services/usage/index.js';
import { ListenError, startHttpServer } from './http/server.js';
import { type HostRuntime, startHostRuntime } from './host-runtime.js';
import { type HostServices, hostServices } from './host-services.js';
import { Fleet, FleetAddresses, FleetDomains, FleetNetworks, FleetProvisioning, ServedHosts } from './services/fleet/index.js';

/**
 * Free space the data directory must keep for mutations to be taken: a mutation writes a few KiB (its rows,
 * its events, its audit row) and SQLite's WAL grows until a checkpoint, so the reserve leaves room for those
 * already under way when it is reached.
 */
const STORAGE_RESERVE_BYTES = 8 * 1024 * 1024;

/**
 * Opens (and migrates) the database. On a full disk SQLite cannot even make its shared-memory index: the
 * ballast file kept for this is deleted and the open tried again, so the server starts and serves reads
 * (writes are refused until space returns). Pending migrations still need space of their own.
 */
function openOnFullDisk(dataDir: string, log: Logger): Db {
  const file = join(dataDir, 'virtplane.sqlite');
  try {
    return openDatabase(file);
  } catch (err) {
    if (!isStorageFailure(err) || !releaseBallast(dataDir)) throw err;
    log.warn({ err: String(err) }, 'data directory full: the ballast file was deleted to open the database');
    return openDatabase(file);
  }
}

/** A start-up refusal an operator can act on (data directory in use, port taken): one line, no stack trace. */
export class StartupError extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
    this.name = 'StartupError';
  }
}

export interface Virtplane {
  url: string;
  services: Services;
  /** Each served host's own services, the local host's first (for tests and tools that reach one host). */
  hosts: HostServices[];
  /** The names of this installation's host-wide objects (storage pool, nftables table, nwfilters). */
  instance: InstanceNames;
  /** The embedded stack, when the server runs its own bus and libvirt-dbus. */
  embedded: EmbeddedStack | null;
  /** A bootstrap admin token generated on this start (printed once), if any. */
  generatedAdminToken: string | null;
  stop(): Promise<void>;
}

/**
 * The composition root: the only place that creates concrete instances and wires them together.
 * Order: data directory lock → embedded stack → database (migrated) → bus → cache loaded from libvirt →
 * HTTP/WS listening. A failure on the way stops what was started, in reverse.
 */
export async function startVirtplane(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<Virtplane> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    // First: a second server on this directory must not touch the first one's children or database.
    const lock = lockDataDir(config.dataDir);
    cleanups.push(() => lock.release());
    let embedded: EmbeddedStack | null = null;
    if (config.bus === null) {
      embedded = await startEmbeddedStack(join(config.dataDir, 'run'), { log: (msg, fields) => log.warn(fields ?? {}, msg) });
      cleanups.push(() => embedded!.stop());
    }
    const db = openOnFullDisk(config.dataDir, log);
    const storage = new StorageHealth(config.dataDir, STORAGE_RESERVE_BYTES, log.child({ component: 'storage' }));
    keepBallast(config.dataDir);
    storage.onRetry(() => {
      keepBallast(config.dataDir); // space is back: the next start on a full disk can open the database again
      return true;
    });
    cleanups.push(() => {
      db.$client.close();
    });

    // Host-wide names: what the environment says, else this installation's own (kept in its database).
    const hostObjects = new HostObjects(db);
    const stored = hostObjects.names();
    const instance: InstanceNames = {
      ...stored,
      storagePool: config.provisioning.storagePool ?? stored.storagePool,
      nftTable: config.nft.table ?? stored.nftTable,
    };
    const nft = { ...config.nft, table: instance.nftTable };
    const owners = new OwnershipStore(db);
    const access = new AccessPolicy(owners);
    const events = config.events ?? DEFAULT_EVENTS;
    const eventLog = new EventLog(db);
    const stream = new EventStream(eventLog, access, events, log.child({ component: 'events' }), {
      bufferLimit: events.bufferLimit,
      storage,
    });
    stream.start();
    cleanups.push(() => stream.stop());

    // The host this server runs beside, then the others it serves: each its bus, libvirt, cache and sync.
    const hostStore = new HostStore(db);
    const runtimeOptions = {
      driver: config.driver,
      domainType: config.provisioning.domainType,
      resyncCheckMs: config.resyncCheckMs,
    };
    const local = await startHostRuntime(
      { ...runtimeOptions, target: config.bus ?? { kind: 'address', address: embedded!.address } },
      hostStore,
      stream,
      log,
      (fn) => cleanups.push(fn),
    );
    const others: HostRuntime[] = [];
    for (const other of config.otherHosts) {
      // A name the local host has would make its row serve twice.
      if (hostStore.first()?.name === other.name)
        throw new StartupError(new Error(`VIRTPLANE_HOSTS names ${other.name}, the host the server runs beside`));
      const hostLog = log.child({ host: other.name });
      const started = await startHostRuntime({ ...runtimeOptions, target: other.bus, name: other.name }, hostStore, stream, hostLog, (fn) =>
        cleanups.push(fn),
      ).catch((err: Error) => {
        throw new StartupError(new Error(`host ${other.name} (VIRTPLANE_HOSTS): ${err.message}`, { cause: err }));
      });
      others.push(started);
    }
    const { bus, graphics, libvirt, cache, sync } = local;

    const auth = new AuthService(db);
    const users = new UserService(db, access);
    const subscriptions = new SubscriptionRegistry(config.limits.maxSubscriptionsPerToken);
    users.on('revoked', (tokenIds) => subscriptions.closeTokens(tokenIds));
    users.watchExpiry();
    cleanups.push(() => users.stopWatchingExpiry());
    const definedPools = new DefinedPoolStore(db);
    const usage = new UsageService(
      new UsageStore(db),
      users,
      { retentionDays: config.usageRetentionDays ?? DEFAULT_USAGE_RETENTION_DAYS },
      (msg, err) => log.warn({ err: String(err) }, msg),
    );
    usage.start();
    cleanups.push(() => usage.stop());
    const quotas = new QuotaService(db, access);
    const hosts = new HostRegistry(
      hostStore,
      access,
      [local, ...others].map((rt) => rt.served),
      (hostId) => quotas.reservationSizes(hostId),
      { append: (event) => stream.host(event), latest: (hostId) => eventLog.latestHostEvent(hostId) },
      config.placement,
    );
    hosts.start();
    cleanups.push(() => hosts.stop());
    // QEMU listens on each new guest's serial socket here (libvirt creates the socket, owned by the qemu user).
    const serialSocketDir = config.driver === 'Test' ? null : join(config.dataDir, 'run', 'serial');
    if (serialSocketDir) mkdirSync(serialSocketDir, { recursive: true, mode: 0o700 });
    const servicesOf = (rt: HostRuntime) =>
      hostServices(
        rt,
        { db, access, owners, quotas, users, hosts, stream, log },
        {
          imagePools: config.imagePools,
          // With nftables on, NAT networks are virtplane's own (libvirt's NAT mode refuses port-forwarded traffic).
          managedNat: config.nft.binary !== null,
          instance: { nwfilterPrefix: instance.nwfilterPrefix, hostObjects },
          provisioning: {
            ...config.provisioning,
            storagePool: instance.storagePool,
            nwfilterPrefix: instance.nwfilterPrefix,
            onPoolDefining: (name) => hostObjects.record('storage-pool', name),
            serialSocketDir,
          },
          meter: (hostId, domain) => usage.meter(hostId, domain, access.ownerOf(domain)),
          definedPools,
        },
      );
    const served = [local, ...others].map(servicesOf);
    const localServices = served[0]!;
    const { domains, networks, ipam, images } = localServices;
    const servedHosts = new ServedHosts([localServices, ...served.slice(1)]);
    const provisioning = new FleetProvisioning(servedHosts, new Fleet(hosts, served));
    for (const h of served)
      await h.networks.probe((err) =>
        log.warn({ err: String(err), host: h.hostId }, 'nwfilter probe failed; anti-spoofing reported unsupported'),
      );
    let imageUploads: ImageUploadService | null = null;
    const storagePools = new StoragePoolService(libvirt, db, cache, access, definedPools, instance.storagePool, (pool) =>
      imageUploads ? imageUploads.writingInto(pool) : false,
    );
    imageUploads = new ImageUploadService(
      db,
      bus,
      access,
      images,
      storagePools,
      { maxBytes: config.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES, defaultPool: instance.storagePool, imagePools: config.imagePools },
      log.child({ component: 'uploads' }),
    );
    await imageUploads.start();
    let apiPort: number | null = config.port || null;
    const consoleConfig = config.console ?? DEFAULT_CONSOLE;
    let listeningUrl = '';
    const audit = new AuditService(db, access, storage, log.child({ component: 'audit' }));
    const consoles = new ConsoleService(
      bus,
      domains,
      auth,
      audit,
      graphics,
      config.publicHost,
      {
        sshTunnel: consoleConfig.sshTunnel,
        ticketTtlMs: consoleConfig.ticketTtlMs,
        serialSocketDir,
        publicUrl: () => consoleConfig.publicUrl ?? listeningUrl,
      },
      (uuid, err) => log.warn({ domain: uuid, err: String(err) }, 'serial console connection failed'),
    );
    // Its lines and socket watch from now on, should the start fail before the sessions' cleanup (below) exists.
    cleanups.push(() => consoles.serial.stop());
    const portForwards = new PortForwardService(
      db,
      cache,
      ipam,
      networks,
      access,
      quotas,
      nft,
      log.child({ component: 'nftables' }),
      () => apiPort,
    );
    ipam.onRelease((domainUuid) => portForwards.releaseDomain(domainUuid));
    networks.onNatChange(() => void portForwards.start());
    await portForwards.start();
    const services: Services = {
      auth,
      access,
      domains: new FleetDomains(servedHosts),
      networks: new FleetNetworks(servedHosts),
      ipam: new FleetAddresses(servedHosts),
      portForwards,
      hosts,
      hostEvents: new HostEventService(stream, access),
      users,
      quotas,
      provisioning,
      audit,
      subscriptions,
      images,
      imageUploads,
      storagePools,
      media: new MediaService(bus, sync, domains, images),
      console: consoles,
      domainEvents: new DomainEventService(stream, access, (hostId, uuid) =>
        [local, ...others].find((rt) => rt.id === hostId)?.cache.domains.get(uuid),
      ),
      eventCursors: new EventCursors(eventLog),
      networkEvents: new NetworkEventService(stream, access),
      storage,
      usage,
      rateLimits: new RateLimits(config.rateLimitPerMinute ?? 0),
    };
    const { generatedToken } = auth.bootstrapAdmin(config.adminToken);
    for (const h of served) {
      await h.provisioning.start();
      // A domain undefined outside virtplane (e.g. `virsh undefine`) frees its owner's quota and addresses.
      cleanups.push(h.releaseUndefined());
    }
    // Consoles follow access: a revoked token, a domain handed on, stopped or deleted closes its sessions.
    users.on('revoked', (tokenIds) => consoles.tokensRevoked(tokenIds));
    provisioning.onAssigned((uuid) => consoles.domainAssigned(uuid));
    // Consoles are served for the local host's guests (ARCHITECTURE.md, "Several hosts").
    const consoleEvents = stream.domains.subscribe(
      (e) => e.hostId === local.id && ['STARTED', 'RESUMED', 'STOPPED', 'UNDEFINED'].includes(e.type),
      {
        bufferLimit: 100_000,
      },
    );
    void (async () => {
      for await (const e of consoleEvents) consoles.domainEvent(e.type, e.domain.uuid);
    })().catch((err) => log.error({ err }, 'console lifecycle handling stopped'));
    cleanups.push(() => void consoleEvents.return?.());
    for (const d of cache.domains.values()) if (d.active) consoles.serial.running(d.uuid);

    const http = await startHttpServer(
      {
        schema: buildSchema(),
        services,
        log,
        graphiql: config.development,
        limits: config.limits,
        maxBufferedBytes: events.bufferLimit * 4096,
        http: config.http,
        console: new ConsoleRoutes(consoles),
        webApp: new WebAppRoutes(log.child({ component: 'web-app' })),
        metrics: new MetricsRoute(
          auth,
          new MonitoringService({
            hosts,
            domains: services.domains,
            users,
            quotas,
            events: { lastCursor: () => eventLog.lastId(), held: () => stream.heldCount },
            subscriptions,
            storage,
            rateLimits: services.rateLimits,
          }),
        ),
      },
      config.host,
      config.port,
    );
    cleanups.push(() => http.close());
    apiPort = Number(new URL(http.url).port);
    listeningUrl = new URL(http.url).origin;
    // Before the HTTP server closes: each console session ends with its close reason and audit row.
    cleanups.push(() => consoles.stop());
    log.info({ url: http.url, driver: config.driver, embedded: embedded !== null, instance }, 'virtplane listening');

    return { url: http.url, services, hosts: served, instance, embedded, generatedAdminToken: generatedToken, stop };
  } catch (err) {
    await stop();
    if (err instanceof DataDirInUseError || err instanceof RunDirInUseError || err instanceof ListenError) throw new StartupError(err);
    if (isStorageFailure(err))
      throw new StartupError(new Error(`cannot write the data directory ${config.dataDir}: ${(err as Error).message}`, { cause: err }));
    throw err;
  }
}
