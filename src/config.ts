import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

// config.ts imports nothing of the project: every layer may read the settings, and none is needed to parse them.

/** Where libvirt-dbus is reached (the shape libvirt/bus.ts's `BusTarget` takes; the compiler checks they agree in main.ts). */
export type BusSetting = { kind: 'system' } | { kind: 'session' } | { kind: 'address'; address: string };

/** Names an nftables table may have (host/nftables.ts refuses others when it writes the table). */
export const NFT_TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/** Everything the server reads from its environment, parsed once at start. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** null = embedded: the server starts its own private bus and libvirt-dbus. */
  bus: BusSetting | null;
  driver: 'Test' | 'QEMU';
  adminToken: string | null;
  logLevel: string;
  development: boolean;
  limits: QueryLimits;
  /** Host name users reach over SSH for console tunnels. */
  publicHost: string;
  /** Storage pools install images must live in; empty = any active `dir` pool (the ISO is a file in its directory). */
  imagePools: string[];
  /** Largest ISO accepted by an upload (VIRTPLANE_MAX_UPLOAD_GIB); default 8 GiB. */
  maxUploadBytes?: number;
  /** nft binary (null: host firewall changes off) and the `inet` table virtplane owns (null: this instance's own). */
  nft: { binary: string | null; table: string | null };
  /** Event log retention (count and age; 0 = unlimited) and the live buffer per subscriber. */
  events?: { maxCount: number; maxAgeMs: number; bufferLimit: number };
  /** How often the cheap state check looks for changes no libvirt signal announced (ms; default 30 s). */
  resyncCheckMs?: number;
  provisioning: ProvisioningConfig;
  /** Request bodies and cross-origin access (default DEFAULT_HTTP_POLICY). */
  http?: HttpPolicy;
  /** Consoles in the browser (tickets, pages) and the SSH-tunnel path; defaults: DEFAULT_CONSOLE. */
  console?: ConsoleConfig;
}

/** What the HTTP layer accepts before yoga reads a request. */
export interface HttpPolicy {
  /** Largest request body (bytes) anyone may send; a WebSocket message is held to it as well. */
  maxBodyBytes: number;
  /** Origins whose pages may call the API from a browser (CORS); empty: none, `*`: any. */
  corsOrigins: string[];
}

export const DEFAULT_HTTP_POLICY: HttpPolicy = { maxBodyBytes: 1024 * 1024, corsOrigins: [] };

export interface ConsoleConfig {
  /** Whether `domainConsole` hands out the loopback port, password and SSH command. */
  sshTunnel: boolean;
  /** Base URL users reach this server at, for console page and WebSocket URLs; null: the address it listens on. */
  publicUrl: string | null;
  /** How long a ticket is redeemable (default 30 s; tests shorten it). */
  ticketTtlMs?: number;
}

export const DEFAULT_CONSOLE: ConsoleConfig = { sshTunnel: true, publicUrl: null };

/** How new domains are made (createDomain). */
export interface ProvisioningConfig {
  /**
   * libvirt storage pool guest disks are created in; a `dir` pool at `storageDir` is made if it is missing.
   * null: this instance's own (`virtplane-<instance id>`, chosen at the first start and kept in the database).
   */
  storagePool: string | null;
  storageDir: string;
  /** `auto`: kvm when the host offers it, else qemu (TCG). The Test driver always uses `test`. */
  domainType: 'auto' | 'kvm' | 'qemu';
  /** Upper bounds per domain; null = the host's capacity. */
  maxVcpus: number | null;
  maxMemoryMiB: number | null;
  maxDiskGiB: number;
  /** Put each tenant's guests into the cgroup partition /machine/<user> (the partition must exist on the host). */
  partitions: boolean;
}

/** Per-operation limits (graphql-armor) and the cap on open subscriptions per API token. */
export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxCost: number;
  maxDirectives: number;
  maxSubscriptionsPerToken: number;
}

export const DEFAULT_LIMITS: QueryLimits = {
  maxDepth: 10,
  maxAliases: 15,
  maxTokens: 2000,
  maxCost: 50000,
  maxDirectives: 20,
  maxSubscriptionsPerToken: 20,
};

const LIMIT_ENV: Record<keyof QueryLimits, string> = {
  maxDepth: 'VIRTPLANE_MAX_DEPTH',
  maxAliases: 'VIRTPLANE_MAX_ALIASES',
  maxTokens: 'VIRTPLANE_MAX_TOKENS',
  maxCost: 'VIRTPLANE_MAX_COST',
  maxDirectives: 'VIRTPLANE_MAX_DIRECTIVES',
  maxSubscriptionsPerToken: 'VIRTPLANE_MAX_SUBSCRIPTIONS_PER_TOKEN',
};

export const DEFAULT_EVENTS: NonNullable<Config['events']> = { maxCount: 100_000, maxAgeMs: 7 * 24 * 3600_000, bufferLimit: 1000 };

export const DEFAULT_RESYNC_CHECK_MS = 30_000;

export const DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024 ** 3;

export class ConfigError extends Error {}

export const CONFIG_HELP = `virtplane: GraphQL control plane for libvirt

Usage: npm start            (npm start -- --help prints this)

Environment:
  HOST                   address to listen on                         (default 127.0.0.1)
  PORT                   TCP port                                     (default 4000)
  VIRTPLANE_DATA_DIR     SQLite database and runtime files            (default ./data)
  VIRTPLANE_BUS          system | session | a D-Bus address           (unset: embedded private bus
                                                                       with its own libvirt-dbus)
  VIRTPLANE_DRIVER       Test | QEMU: libvirt driver behind libvirt-dbus
                                                                      (default Test when embedded, else QEMU)
  VIRTPLANE_ADMIN_TOKEN  bootstrap admin token (unset: one is generated on first start and printed once)
  VIRTPLANE_PUBLIC_HOST  host name users SSH to for console tunnels     (default: this machine's hostname)
  VIRTPLANE_IMAGE_POOLS  comma-separated storage pools that install images must be in
                                                                      (default: any active dir pool)
  VIRTPLANE_MAX_UPLOAD_GIB  largest ISO an image upload accepts, GiB  (default 8)
  VIRTPLANE_NFT          nft binary for NAT port forwards, or "off"   (default nft with QEMU, off with Test)
  VIRTPLANE_NFT_TABLE    the nftables table virtplane owns (inet)     (default virtplane_<instance id>)
  VIRTPLANE_EVENTS_MAX_COUNT   keep at most this many events in the log; 0 = no limit (default 100000)
  VIRTPLANE_EVENTS_MAX_AGE_HOURS  drop events older than this; 0 = no limit      (default 168 = 7 days)
                         Pruning never removes an event a connected subscriber has not received yet.
  VIRTPLANE_EVENTS_BUFFER  events a subscriber may lag behind before it is disconnected with close code
                         4008 (default 1000; on its socket: that many × 4 KiB of unsent frames)
  VIRTPLANE_RESYNC_CHECK_SECONDS  how often one cheap call compares every domain's state with the
                         cache, to notice changes no signal announced (e.g. libvirtd restarted
                         behind libvirt-dbus) and libvirt going away  (default 30)
  VIRTPLANE_STORAGE_POOL storage pool for guest disks                 (default virtplane-<instance id>)
                         The instance id is chosen at the first start and kept in the data dir; data dirs
                         from before it keep the names virtplane, virtplane and virtplane-* (nwfilters).
  VIRTPLANE_STORAGE_DIR  directory of that pool when virtplane has to create it (a dir pool)
                                                                      (default <data dir>/storage)
  VIRTPLANE_DOMAIN_TYPE  auto | kvm | qemu: libvirt domain type of new guests
                                                                      (default auto: kvm when usable)
  VIRTPLANE_MAX_VCPUS    most vCPUs per domain                        (default: host CPUs)
  VIRTPLANE_MAX_MEMORY_MIB most memory per domain, MiB                (default: host memory)
  VIRTPLANE_MAX_DISK_GIB most disk per domain, GiB                    (default 1024)
  VIRTPLANE_PARTITIONS   on | off: guests in cgroup partition /machine/<user>
                                                                      (default off)
  VIRTPLANE_MAX_BODY_BYTES  largest request body (and WebSocket message) accepted;
                         larger: HTTP 413                              (default 1048576 = 1 MiB)
  VIRTPLANE_CORS_ORIGINS comma-separated origins (https://ui.example.com) whose pages may call the
                         API from a browser, or * for any              (default: none)
  VIRTPLANE_PUBLIC_URL   base URL browsers reach this server at, for console tickets' pageUrl and
                         websocketUrl, e.g. https://vm-host.example.net (default: the listening address)
  VIRTPLANE_CONSOLE_SSH_TUNNEL on | off: domainConsole hands out the loopback port, password and SSH
                         command (default on; off: domainConsole answers UNSUPPORTED, use tickets)
  LOG_LEVEL              pino level: fatal error warn info debug trace (default info)
  NODE_ENV               production disables GraphiQL

Limits (every operation; refusals are GraphQL errors with extensions.code):
  VIRTPLANE_MAX_DEPTH                   selection depth                (default 10,   QUERY_TOO_DEEP)
  VIRTPLANE_MAX_ALIASES                 aliases per operation          (default 15,   TOO_MANY_ALIASES)
  VIRTPLANE_MAX_TOKENS                  lexical tokens per document    (default 2000, QUERY_TOO_LARGE)
  VIRTPLANE_MAX_COST                    graphql-armor cost estimate    (default 50000, QUERY_TOO_COSTLY;
                                        a list field multiplies its cost by "first")
  VIRTPLANE_MAX_DIRECTIVES              directives per operation       (default 20,   TOO_MANY_DIRECTIVES)
  VIRTPLANE_MAX_SUBSCRIPTIONS_PER_TOKEN open subscriptions per token   (default 20,   LIMIT_EXCEEDED)
`;

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 4000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT must be an integer from 0 to 65535, got "${env.PORT}"`);

  let bus: BusSetting | null = null;
  const rawBus = env.VIRTPLANE_BUS?.trim();
  if (rawBus === 'system') bus = { kind: 'system' };
  else if (rawBus === 'session') bus = { kind: 'session' };
  else if (rawBus) {
    if (!/^[a-z]+:[^\s]+=/.test(rawBus)) {
      throw new ConfigError(`VIRTPLANE_BUS must be "system", "session" or a D-Bus address like unix:path=/run/bus, got "${rawBus}"`);
    }
    bus = { kind: 'address', address: rawBus };
  }

  const rawDriver = env.VIRTPLANE_DRIVER?.trim() || (bus === null ? 'Test' : 'QEMU');
  const driver = ({ test: 'Test', qemu: 'QEMU' } as const)[rawDriver.toLowerCase() as 'test' | 'qemu'];
  if (!driver) throw new ConfigError(`VIRTPLANE_DRIVER must be "Test" or "QEMU", got "${rawDriver}"`);

  const adminToken = env.VIRTPLANE_ADMIN_TOKEN?.trim() || null;
  if (adminToken !== null && adminToken.length < 16) throw new ConfigError('VIRTPLANE_ADMIN_TOKEN must be at least 16 characters');

  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.has(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}, got "${logLevel}"`);

  const limits = { ...DEFAULT_LIMITS };
  for (const [key, name] of Object.entries(LIMIT_ENV) as [keyof QueryLimits, string][]) {
    const raw = env[name]?.trim();
    if (!raw) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
    limits[key] = n;
  }
  // The test driver has no real guests: unless asked, a server on it leaves the host firewall alone.
  const rawNft = env.VIRTPLANE_NFT?.trim() || (driver === 'QEMU' ? 'nft' : 'off');
  const nftTable = env.VIRTPLANE_NFT_TABLE?.trim() || null;
  if (nftTable !== null && !NFT_TABLE_NAME.test(nftTable)) throw new ConfigError(`VIRTPLANE_NFT_TABLE must be a letter then up to 31 letters, digits or _, got "${nftTable}"`);

  const nonNegative = (name: string, fallback: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${name} must be a number ≥ 0, got "${raw}"`);
    return n;
  };
  const events = {
    maxCount: Math.floor(nonNegative('VIRTPLANE_EVENTS_MAX_COUNT', DEFAULT_EVENTS.maxCount)),
    maxAgeMs: nonNegative('VIRTPLANE_EVENTS_MAX_AGE_HOURS', DEFAULT_EVENTS.maxAgeMs / 3600_000) * 3600_000,
    bufferLimit: Math.max(1, Math.floor(nonNegative('VIRTPLANE_EVENTS_BUFFER', DEFAULT_EVENTS.bufferLimit))),
  };
  const resyncCheckSeconds = nonNegative('VIRTPLANE_RESYNC_CHECK_SECONDS', DEFAULT_RESYNC_CHECK_MS / 1000);
  if (resyncCheckSeconds < 0.1) throw new ConfigError(`VIRTPLANE_RESYNC_CHECK_SECONDS must be at least 0.1, got "${env.VIRTPLANE_RESYNC_CHECK_SECONDS}"`);
  const positive = (name: string, fallback: number | null): number | null => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const domainType = (env.VIRTPLANE_DOMAIN_TYPE?.trim() || 'auto').toLowerCase();
  if (domainType !== 'auto' && domainType !== 'kvm' && domainType !== 'qemu') {
    throw new ConfigError(`VIRTPLANE_DOMAIN_TYPE must be auto, kvm or qemu, got "${env.VIRTPLANE_DOMAIN_TYPE}"`);
  }
  const partitions = (env.VIRTPLANE_PARTITIONS?.trim() || 'off').toLowerCase();
  if (partitions !== 'on' && partitions !== 'off') throw new ConfigError(`VIRTPLANE_PARTITIONS must be on or off, got "${partitions}"`);
  const corsOrigins = (env.VIRTPLANE_CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(`VIRTPLANE_CORS_ORIGINS must list origins like https://ui.example.com (scheme and host, no path) or *, got "${origin}"`);
    }
  }
  const http = { maxBodyBytes: positive('VIRTPLANE_MAX_BODY_BYTES', DEFAULT_HTTP_POLICY.maxBodyBytes)!, corsOrigins };
  const maxUploadGiB = nonNegative('VIRTPLANE_MAX_UPLOAD_GIB', DEFAULT_MAX_UPLOAD_BYTES / 1024 ** 3);
  if (maxUploadGiB <= 0) throw new ConfigError(`VIRTPLANE_MAX_UPLOAD_GIB must be above 0, got "${env.VIRTPLANE_MAX_UPLOAD_GIB}"`);
  const dataDir = resolve(env.VIRTPLANE_DATA_DIR?.trim() || './data');
  const sshTunnel = (env.VIRTPLANE_CONSOLE_SSH_TUNNEL?.trim() || 'on').toLowerCase();
  if (sshTunnel !== 'on' && sshTunnel !== 'off') throw new ConfigError(`VIRTPLANE_CONSOLE_SSH_TUNNEL must be on or off, got "${sshTunnel}"`);
  const publicUrl = env.VIRTPLANE_PUBLIC_URL?.trim().replace(/\/+$/, '') || null;
  if (publicUrl !== null && !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(publicUrl)) {
    throw new ConfigError(`VIRTPLANE_PUBLIC_URL must be an http:// or https:// URL without query, got "${publicUrl}"`);
  }

  return {
    limits,
    events,
    http,
    resyncCheckMs: Math.round(resyncCheckSeconds * 1000),
    host: env.HOST?.trim() || '127.0.0.1',
    port,
    dataDir,
    bus,
    driver,
    adminToken,
    logLevel,
    development: env.NODE_ENV !== 'production',
    publicHost: env.VIRTPLANE_PUBLIC_HOST?.trim() || hostname(),
    maxUploadBytes: Math.floor(maxUploadGiB * 1024 ** 3),
    console: { sshTunnel: sshTunnel === 'on', publicUrl },
    imagePools: (env.VIRTPLANE_IMAGE_POOLS ?? '').split(',').map((p) => p.trim()).filter(Boolean),
    nft: { binary: rawNft.toLowerCase() === 'off' ? null : rawNft, table: nftTable },
    provisioning: {
      storagePool: env.VIRTPLANE_STORAGE_POOL?.trim() || null,
      storageDir: resolve(env.VIRTPLANE_STORAGE_DIR?.trim() || join(dataDir, 'storage')),
      domainType,
      maxVcpus: positive('VIRTPLANE_MAX_VCPUS', null),
      maxMemoryMiB: positive('VIRTPLANE_MAX_MEMORY_MIB', null),
      maxDiskGiB: positive('VIRTPLANE_MAX_DISK_GIB', 1024)!,
      partitions: partitions === 'on',
    },
  };
}
