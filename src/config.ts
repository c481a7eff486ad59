import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

// config.ts imports nothing of the project: every layer may read the settings, and none is needed to parse them.
// It is longer than ~300 lines on purpose: SETTINGS below is the one table of every variable the server reads
// (name, meaning, default, parser), from which loadConfig parses, `--help` is printed and the README's table is
// made (`npm run docs:settings`; test/unit/config.test.ts fails when the README is stale).

/** Where libvirt-dbus is reached (the shape libvirt/bus.ts's `BusTarget` takes; the compiler checks they agree in main.ts). */
export type BusSetting = { kind: 'system' } | { kind: 'session' } | { kind: 'address'; address: string };

/** Names an nftables table may have (host/nftables.ts refuses others when it writes the table). */
export const NFT_TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/** A host the server serves besides its own: its name (the hosts table's) and its libvirt-dbus's bus. */
export interface OtherHost {
  name: string;
  bus: { kind: 'address'; address: string };
}

/** Everything the server reads from its environment, parsed once at start. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** null = embedded: the server starts its own private bus and libvirt-dbus. */
  bus: BusSetting | null;
  driver: 'Test' | 'QEMU';
  /** Hosts served beside the one the server runs beside: each a name and the bus its libvirt-dbus is on. */
  otherHosts: OtherHost[];
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
  /** Requests per tenant per minute (absent or 0: not limited; loadConfig's default DEFAULT_RATE_LIMIT_PER_MINUTE). */
  rateLimitPerMinute?: number;
  /** Days metering keeps a usage period after it ended (0 = for ever); default DEFAULT_USAGE_RETENTION_DAYS. */
  usageRetentionDays?: number;
  provisioning: ProvisioningConfig;
  /** How much of a host's CPUs and memory placement hands out (absent or null: not limited). */
  placement?: PlacementConfig;
  /** Request bodies and cross-origin access (default DEFAULT_HTTP_POLICY). */
  http?: HttpPolicy;
  /** Consoles in the browser (tickets, pages) and the SSH-tunnel path; defaults: DEFAULT_CONSOLE. */
  console?: ConsoleConfig;
}

/** vCPUs per host CPU and guest memory per MiB of host memory that placement hands out at most. */
export interface PlacementConfig {
  cpuAllocationRatio: number | null;
  memoryAllocationRatio: number | null;
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

/** Ten a second on average: far above what a person or a polling page makes, and a runaway script meets it. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600;

/** Over a year: last year's bills can still be made (or checked) this year. */
export const DEFAULT_USAGE_RETENTION_DAYS = 400;

export const DEFAULT_EVENTS: NonNullable<Config['events']> = { maxCount: 100_000, maxAgeMs: 7 * 24 * 3600_000, bufferLimit: 1000 };

export const DEFAULT_RESYNC_CHECK_MS = 30_000;

export const DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024 ** 3;

export class ConfigError extends Error {}

/**
 * One setting read from the environment: its variable, what it means and its default (Markdown: the README's
 * table and `--help` are made from these), and its parser. A parser gets the raw value (undefined when unset),
 * the variable's name for its messages, and what it depends on (the driver's default depends on the bus, ...).
 */
export interface Setting<T, D = undefined> {
  name: string;
  meaning: string;
  /** '' for none. */
  default: string;
  /** Settings of `limits` are listed under their own heading in `--help`. */
  group?: 'limits';
  parse: (raw: string | undefined, name: string, dep: D) => T;
}

const setting = <T, D = undefined>(s: Setting<T, D>): Setting<T, D> => s;
const code = (value: string | number): string => `\`${value}\``;
const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function nonNegative(fallback: number) {
  return (raw: string | undefined, name: string): number => {
    const text = raw?.trim();
    if (!text) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${name} must be a number ≥ 0, got "${text}"`);
    return n;
  };
}

function positive<F extends number | null>(fallback: F) {
  return (raw: string | undefined, name: string): number | F => {
    const text = raw?.trim();
    if (!text) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${name} must be a positive integer, got "${text}"`);
    return n;
  };
}

/** A ratio above 0 (fractions allowed), or null when unset. */
function ratio(raw: string | undefined, name: string): number | null {
  const text = raw?.trim();
  if (!text) return null;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${name} must be a number above 0, got "${text}"`);
  return n;
}

function onOff(fallback: 'on' | 'off') {
  return (raw: string | undefined, name: string): boolean => {
    const value = (raw?.trim() || fallback).toLowerCase();
    if (value !== 'on' && value !== 'off') throw new ConfigError(`${name} must be on or off, got "${value}"`);
    return value === 'on';
  };
}

const list = (raw: string | undefined): string[] =>
  (raw ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

function limit(name: string, meaning: string, key: keyof QueryLimits) {
  return setting({ name, meaning, default: code(DEFAULT_LIMITS[key]), group: 'limits', parse: positive(DEFAULT_LIMITS[key]) });
}

/** Every variable the server reads, in the order the README and `--help` list them. */
export const SETTINGS = {
  host: setting({ name: 'HOST', meaning: 'address to listen on', default: code('127.0.0.1'), parse: (raw) => raw?.trim() || '127.0.0.1' }),
  port: setting({
    name: 'PORT',
    meaning: 'TCP port to listen on (`0`: any free port)',
    default: code(4000),
    parse: (raw, name) => {
      const port = Number(raw ?? 4000);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new ConfigError(`${name} must be an integer from 0 to 65535, got "${raw}"`);
      return port;
    },
  }),
  dataDir: setting({
    name: 'VIRTPLANE_DATA_DIR',
    meaning: 'SQLite database and runtime files',
    default: code('./data'),
    parse: (raw) => resolve(raw?.trim() || './data'),
  }),
  bus: setting({
    name: 'VIRTPLANE_BUS',
    meaning: '`system`, `session`, or a D-Bus address',
    default: 'unset: embedded private bus with its own libvirt-dbus',
    parse: (raw, name): BusSetting | null => {
      const text = raw?.trim();
      if (text === 'system') return { kind: 'system' };
      if (text === 'session') return { kind: 'session' };
      if (!text) return null;
      if (!/^[a-z]+:[^\s]+=/.test(text)) {
        throw new ConfigError(`${name} must be "system", "session" or a D-Bus address like unix:path=/run/bus, got "${text}"`);
      }
      return { kind: 'address', address: text };
    },
  }),
  driver: setting({
    name: 'VIRTPLANE_DRIVER',
    meaning: '`Test` or `QEMU` (the libvirt-dbus object behind `/org/libvirt/<driver>`)',
    default: '`Test` when embedded, else `QEMU`',
    parse: (raw, name, bus: BusSetting | null) => {
      const text = raw?.trim() || (bus === null ? 'Test' : 'QEMU');
      const driver = ({ test: 'Test', qemu: 'QEMU' } as const)[text.toLowerCase() as 'test' | 'qemu'];
      if (!driver) throw new ConfigError(`${name} must be "Test" or "QEMU", got "${text}"`);
      return driver;
    },
  }),
  adminToken: setting({
    name: 'VIRTPLANE_ADMIN_TOKEN',
    meaning: 'bootstrap admin token (≥ 16 characters)',
    default: 'generated and printed on first start',
    parse: (raw, name) => {
      const token = raw?.trim() || null;
      if (token !== null && token.length < 16) throw new ConfigError(`${name} must be at least 16 characters`);
      return token;
    },
  }),
  publicHost: setting({
    name: 'VIRTPLANE_PUBLIC_HOST',
    meaning: 'host name users SSH to for console tunnels (`domainConsole.sshTunnelCommand`)',
    default: "this machine's hostname",
    parse: (raw) => raw?.trim() || hostname(),
  }),
  otherHosts: setting({
    name: 'VIRTPLANE_HOSTS',
    meaning:
      "other hosts to serve besides the one the server runs beside, space-separated `name=address`, each the D-Bus address of a bus where that host's libvirt-dbus answers (same driver), e.g. `hv2=unix:path=/run/hv2/bus`",
    default: 'none',
    parse: (raw, name): OtherHost[] => {
      const hosts: OtherHost[] = [];
      for (const item of (raw ?? '').split(/\s+/).filter(Boolean)) {
        const m = /^([a-z0-9][a-z0-9.-]{0,62})=([a-z]+:\S+=\S*)$/i.exec(item);
        if (!m) throw new ConfigError(`${name} must list name=address pairs like hv2=unix:path=/run/hv2/bus, got "${item}"`);
        if (hosts.some((h) => h.name === m[1])) throw new ConfigError(`${name} names host "${m[1]}" twice`);
        // One libvirt served as two hosts would list its guests twice and count its room twice.
        if (hosts.some((h) => h.bus.address === m[2])) throw new ConfigError(`${name} lists the address ${m[2]} twice`);
        hosts.push({ name: m[1]!, bus: { kind: 'address', address: m[2]! } });
      }
      if (hosts.length > 15) throw new ConfigError(`${name} lists ${hosts.length} hosts; at most 15 besides the server's own`);
      return hosts;
    },
  }),
  imagePools: setting({
    name: 'VIRTPLANE_IMAGE_POOLS',
    meaning:
      'comma-separated libvirt storage pools that install ISOs must be in (`addImage`, `createImageUpload`; uploads go to the first by default)',
    default: 'any active `dir` pool',
    parse: list,
  }),
  maxUploadGiB: setting({
    name: 'VIRTPLANE_MAX_UPLOAD_GIB',
    meaning: 'largest ISO `createImageUpload` accepts, GiB',
    default: code(DEFAULT_MAX_UPLOAD_BYTES / 1024 ** 3),
    parse: (raw, name) => {
      const gib = nonNegative(DEFAULT_MAX_UPLOAD_BYTES / 1024 ** 3)(raw, name);
      if (gib <= 0) throw new ConfigError(`${name} must be above 0, got "${raw}"`);
      return gib;
    },
  }),
  storagePool: setting({
    name: 'VIRTPLANE_STORAGE_POOL',
    meaning: 'storage pool guest disks are created in (`dir` or LVM `logical`; made ready at start-up)',
    default: '`virtplane-<instance id>`',
    parse: (raw) => raw?.trim() || null,
  }),
  storageDir: setting({
    name: 'VIRTPLANE_STORAGE_DIR',
    meaning: 'directory of that pool, when virtplane has to define it (as a `dir` pool)',
    default: '`<data dir>/storage`',
    parse: (raw, _name, dataDir: string) => resolve(raw?.trim() || join(dataDir, 'storage')),
  }),
  domainType: setting({
    name: 'VIRTPLANE_DOMAIN_TYPE',
    meaning:
      '`auto`, `kvm` or `qemu` (TCG): libvirt domain type of new guests (`host { domainType domainTypeReason }`, and logged at start-up)',
    default:
      "`auto`: kvm when libvirt offers it and a throwaway paused guest with the template's `host-model` CPU starts under it (KVM can be offered and still fail, e.g. nested); else qemu",
    parse: (raw, name) => {
      const domainType = (raw?.trim() || 'auto').toLowerCase();
      if (domainType !== 'auto' && domainType !== 'kvm' && domainType !== 'qemu')
        throw new ConfigError(`${name} must be auto, kvm or qemu, got "${raw}"`);
      return domainType;
    },
  }),
  maxVcpus: setting({ name: 'VIRTPLANE_MAX_VCPUS', meaning: 'most vCPUs per domain', default: "the host's CPUs", parse: positive(null) }),
  maxMemoryMiB: setting({
    name: 'VIRTPLANE_MAX_MEMORY_MIB',
    meaning: 'most memory per domain, MiB',
    default: "the host's memory",
    parse: positive(null),
  }),
  maxDiskGiB: setting({ name: 'VIRTPLANE_MAX_DISK_GIB', meaning: 'most disk per domain, GiB', default: code(1024), parse: positive(1024) }),
  cpuAllocationRatio: setting({
    name: 'VIRTPLANE_CPU_ALLOCATION_RATIO',
    meaning:
      'vCPUs placement hands out per host CPU (e.g. `4`), counted over every domain on the host and creates under way; a create that does not fit is NO_HOST_AVAILABLE',
    default: 'not limited',
    parse: ratio,
  }),
  memoryAllocationRatio: setting({
    name: 'VIRTPLANE_MEMORY_ALLOCATION_RATIO',
    meaning:
      "guest memory placement hands out per unit of the host's memory (e.g. `1`, or `0.9` to keep some for the host), counted likewise",
    default: 'not limited',
    parse: ratio,
  }),
  partitions: setting({
    name: 'VIRTPLANE_PARTITIONS',
    meaning: "`on` puts each tenant's guests into the cgroup partition `/machine/<user>` (it must exist)",
    default: code('off'),
    parse: onOff('off'),
  }),
  nft: setting({
    name: 'VIRTPLANE_NFT',
    meaning: '`nft` binary for NAT port forwards, or `off`',
    default: '`nft` with QEMU, `off` with Test',
    // The test driver has no real guests: unless asked, a server on it leaves the host firewall alone.
    parse: (raw, _name, driver: 'Test' | 'QEMU') => {
      const binary = raw?.trim() || (driver === 'QEMU' ? 'nft' : 'off');
      return binary.toLowerCase() === 'off' ? null : binary;
    },
  }),
  nftTable: setting({
    name: 'VIRTPLANE_NFT_TABLE',
    meaning: 'the nftables table virtplane owns (family `inet`)',
    default: '`virtplane_<instance id>`',
    parse: (raw, name) => {
      const table = raw?.trim() || null;
      if (table !== null && !NFT_TABLE_NAME.test(table))
        throw new ConfigError(`${name} must be a letter then up to 31 letters, digits or _, got "${table}"`);
      return table;
    },
  }),
  eventsMaxCount: setting({
    name: 'VIRTPLANE_EVENTS_MAX_COUNT',
    meaning:
      'event log retention: keep at most this many events (0 = no limit; pruning never removes an event a connected subscriber has not received yet)',
    default: code(DEFAULT_EVENTS.maxCount),
    parse: (raw, name) => Math.floor(nonNegative(DEFAULT_EVENTS.maxCount)(raw, name)),
  }),
  eventsMaxAgeHours: setting({
    name: 'VIRTPLANE_EVENTS_MAX_AGE_HOURS',
    meaning: 'event log retention: drop events older than this (0 = no limit)',
    default: `${code(DEFAULT_EVENTS.maxAgeMs / 3600_000)} (7 days)`,
    parse: nonNegative(DEFAULT_EVENTS.maxAgeMs / 3600_000),
  }),
  eventsBuffer: setting({
    name: 'VIRTPLANE_EVENTS_BUFFER',
    meaning: 'events a subscriber may lag behind (on its socket: that many × 4 KiB unsent) before it is disconnected (close code 4008)',
    default: code(DEFAULT_EVENTS.bufferLimit),
    parse: (raw, name) => Math.max(1, Math.floor(nonNegative(DEFAULT_EVENTS.bufferLimit)(raw, name))),
  }),
  usageRetentionDays: setting({
    name: 'VIRTPLANE_USAGE_RETENTION_DAYS',
    meaning: 'metering: days a usage period is kept after it ended (0 = for ever); `usage` asks about the time since',
    default: code(DEFAULT_USAGE_RETENTION_DAYS),
    parse: (raw, name) => Math.floor(nonNegative(DEFAULT_USAGE_RETENTION_DAYS)(raw, name)),
  }),
  resyncCheckSeconds: setting({
    name: 'VIRTPLANE_RESYNC_CHECK_SECONDS',
    meaning:
      "how often one cheap call (`GetAllDomainStats`) compares every domain's state with the cache; a difference no signal announced (e.g. libvirtd restarted behind libvirt-dbus) triggers a full reload, a failure marks libvirt unavailable",
    default: code(DEFAULT_RESYNC_CHECK_MS / 1000),
    parse: (raw, name) => {
      const seconds = nonNegative(DEFAULT_RESYNC_CHECK_MS / 1000)(raw, name);
      if (seconds < 0.1) throw new ConfigError(`${name} must be at least 0.1, got "${raw}"`);
      return seconds;
    },
  }),
  rateLimitPerMinute: setting({
    name: 'VIRTPLANE_RATE_LIMIT_PER_MINUTE',
    meaning:
      'requests a tenant may make per minute (HTTP requests, and operations over WebSockets), counted per user; more: HTTP 429 / `RATE_LIMITED` with `Retry-After`; admins are not limited (0 = no limit)',
    default: code(DEFAULT_RATE_LIMIT_PER_MINUTE),
    parse: (raw, name) => Math.floor(nonNegative(DEFAULT_RATE_LIMIT_PER_MINUTE)(raw, name)),
  }),
  maxBodyBytes: setting({
    name: 'VIRTPLANE_MAX_BODY_BYTES',
    meaning: 'largest request body (and WebSocket message); larger: HTTP 413',
    default: `${code(DEFAULT_HTTP_POLICY.maxBodyBytes)} (1 MiB)`,
    parse: positive(DEFAULT_HTTP_POLICY.maxBodyBytes),
  }),
  corsOrigins: setting({
    name: 'VIRTPLANE_CORS_ORIGINS',
    meaning: 'comma-separated origins (`https://ui.example.com`) whose pages may call the API from a browser, or `*` for any',
    default: 'none: no cross-origin access',
    parse: (raw, name) => {
      const origins = list(raw);
      for (const origin of origins) {
        if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
          throw new ConfigError(`${name} must list origins like https://ui.example.com (scheme and host, no path) or *, got "${origin}"`);
        }
      }
      return origins;
    },
  }),
  publicUrl: setting({
    name: 'VIRTPLANE_PUBLIC_URL',
    meaning:
      "base URL browsers reach this server at (e.g. `https://vm-host.example.net`, behind a TLS proxy): the start of a console ticket's `pageUrl` and `websocketUrl`",
    default: 'the listening address',
    parse: (raw, name) => {
      const url = raw?.trim().replace(/\/+$/, '') || null;
      if (url !== null && !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(url)) {
        throw new ConfigError(`${name} must be an http:// or https:// URL without query, got "${url}"`);
      }
      return url;
    },
  }),
  sshTunnel: setting({
    name: 'VIRTPLANE_CONSOLE_SSH_TUNNEL',
    meaning: '`off` switches the SSH-tunnel console path off: `domainConsole` answers `UNSUPPORTED` (browser consoles stay)',
    default: code('on'),
    parse: onOff('on'),
  }),
  logLevel: setting({
    name: 'LOG_LEVEL',
    meaning: `pino level: ${[...LOG_LEVELS].join(', ')}`,
    default: code('info'),
    parse: (raw, name) => {
      const level = raw?.trim() || 'info';
      if (!LOG_LEVELS.has(level)) throw new ConfigError(`${name} must be one of ${[...LOG_LEVELS].join(', ')}, got "${level}"`);
      return level;
    },
  }),
  nodeEnv: setting({ name: 'NODE_ENV', meaning: '`production` turns GraphiQL off', default: '', parse: (raw) => raw !== 'production' }),
  maxDepth: limit('VIRTPLANE_MAX_DEPTH', 'selection depth per operation (`QUERY_TOO_DEEP`)', 'maxDepth'),
  maxAliases: limit('VIRTPLANE_MAX_ALIASES', 'aliases per operation (`TOO_MANY_ALIASES`)', 'maxAliases'),
  maxTokens: limit('VIRTPLANE_MAX_TOKENS', 'lexical tokens per document (`QUERY_TOO_LARGE`)', 'maxTokens'),
  maxCost: limit(
    'VIRTPLANE_MAX_COST',
    'graphql-armor cost estimate; a list field counts `first` times where `first` is written in the document (a `first` passed as a variable, or left out, counts once: graphql-armor reads no variables; every page is capped at 1000 items) (`QUERY_TOO_COSTLY`)',
    'maxCost',
  ),
  maxDirectives: limit('VIRTPLANE_MAX_DIRECTIVES', 'directives per operation (`TOO_MANY_DIRECTIVES`)', 'maxDirectives'),
  maxSubscriptionsPerToken: limit(
    'VIRTPLANE_MAX_SUBSCRIPTIONS_PER_TOKEN',
    'open subscriptions per API token (`LIMIT_EXCEEDED`)',
    'maxSubscriptionsPerToken',
  ),
};

/** The settings as a list, in the table's order. */
export const SETTING_LIST: readonly Setting<unknown, never>[] = Object.values(SETTINGS);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const read = <T, D>(s: Setting<T, D>, dep: D): T => s.parse(env[s.name], s.name, dep);
  const get = <T>(s: Setting<T>): T => read(s, undefined);

  // In the order the checks ran before the table: the first wrong setting is the one reported.
  const port = get(SETTINGS.port);
  const bus = get(SETTINGS.bus);
  const driver = read(SETTINGS.driver, bus);
  const otherHosts = get(SETTINGS.otherHosts);
  if (bus?.kind === 'address' && otherHosts.some((h) => h.bus.address === bus.address))
    throw new ConfigError(`VIRTPLANE_HOSTS lists ${bus.address}, the bus of VIRTPLANE_BUS (the host the server runs beside)`);
  const adminToken = get(SETTINGS.adminToken);
  const logLevel = get(SETTINGS.logLevel);
  const limits: QueryLimits = {
    maxDepth: get(SETTINGS.maxDepth),
    maxAliases: get(SETTINGS.maxAliases),
    maxTokens: get(SETTINGS.maxTokens),
    maxCost: get(SETTINGS.maxCost),
    maxDirectives: get(SETTINGS.maxDirectives),
    maxSubscriptionsPerToken: get(SETTINGS.maxSubscriptionsPerToken),
  };
  const nftBinary = read(SETTINGS.nft, driver);
  const nftTable = get(SETTINGS.nftTable);
  const events = {
    maxCount: get(SETTINGS.eventsMaxCount),
    maxAgeMs: get(SETTINGS.eventsMaxAgeHours) * 3600_000,
    bufferLimit: get(SETTINGS.eventsBuffer),
  };
  const resyncCheckSeconds = get(SETTINGS.resyncCheckSeconds);
  const domainType = get(SETTINGS.domainType);
  const partitions = get(SETTINGS.partitions);
  const corsOrigins = get(SETTINGS.corsOrigins);
  const http = { maxBodyBytes: get(SETTINGS.maxBodyBytes), corsOrigins };
  const maxUploadGiB = get(SETTINGS.maxUploadGiB);
  const dataDir = get(SETTINGS.dataDir);
  const sshTunnel = get(SETTINGS.sshTunnel);
  const publicUrl = get(SETTINGS.publicUrl);
  const maxVcpus = get(SETTINGS.maxVcpus);
  const maxMemoryMiB = get(SETTINGS.maxMemoryMiB);
  const maxDiskGiB = get(SETTINGS.maxDiskGiB);

  return {
    limits,
    events,
    http,
    resyncCheckMs: Math.round(resyncCheckSeconds * 1000),
    usageRetentionDays: get(SETTINGS.usageRetentionDays),
    rateLimitPerMinute: get(SETTINGS.rateLimitPerMinute),
    host: get(SETTINGS.host),
    port,
    dataDir,
    bus,
    driver,
    otherHosts,
    adminToken,
    logLevel,
    development: get(SETTINGS.nodeEnv),
    publicHost: get(SETTINGS.publicHost),
    maxUploadBytes: Math.floor(maxUploadGiB * 1024 ** 3),
    console: { sshTunnel, publicUrl },
    imagePools: get(SETTINGS.imagePools),
    nft: { binary: nftBinary, table: nftTable },
    placement: { cpuAllocationRatio: get(SETTINGS.cpuAllocationRatio), memoryAllocationRatio: get(SETTINGS.memoryAllocationRatio) },
    provisioning: {
      storagePool: get(SETTINGS.storagePool),
      storageDir: read(SETTINGS.storageDir, dataDir),
      domainType,
      maxVcpus,
      maxMemoryMiB,
      maxDiskGiB,
      partitions,
    },
  };
}

const plain = (markdown: string): string => markdown.replaceAll('`', '');

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function helpLines(settings: readonly Setting<unknown, never>[]): string {
  const column = Math.max(...SETTING_LIST.map((s) => s.name.length)) + 4;
  return settings
    .map((s) => {
      const text = plain(s.default ? `${s.meaning} (default: ${s.default})` : s.meaning);
      const [first = '', ...rest] = wrap(text, 116 - column);
      return [`  ${s.name.padEnd(column - 2)}${first}`, ...rest.map((l) => `${' '.repeat(column)}${l}`)].join('\n');
    })
    .join('\n');
}

/** What `npm start -- --help` prints: made from SETTINGS. */
export const CONFIG_HELP = `virtplane: GraphQL control plane for libvirt

Usage: npm start            (npm start -- --help prints this)

Environment:
${helpLines(SETTING_LIST.filter((s) => !s.group))}

Limits (every operation; refusals are GraphQL errors with extensions.code):
${helpLines(SETTING_LIST.filter((s) => s.group === 'limits'))}
`;

/** The README's table of settings (Markdown), made from SETTINGS. */
export function settingsMarkdown(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = SETTING_LIST.map((s) => `| \`${s.name}\` | ${cell(s.meaning)} | ${cell(s.default)} |`);
  return ['| variable | meaning | default |', '|---|---|---|', ...rows].join('\n') + '\n';
}
