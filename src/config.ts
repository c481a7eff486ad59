import { resolve } from 'node:path';
import type { BusTarget } from './libvirt/bus.js';

/** Everything the server reads from its environment, parsed once at start. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** null = embedded: the server starts its own private bus and libvirt-dbus. */
  bus: BusTarget | null;
  driver: 'Test' | 'QEMU';
  adminToken: string | null;
  logLevel: string;
  development: boolean;
  /** Event log retention (count and age; 0 = unlimited) and the live buffer per subscriber. */
  events?: { maxCount: number; maxAgeMs: number; bufferLimit: number };
}

export const DEFAULT_EVENTS: NonNullable<Config['events']> = { maxCount: 100_000, maxAgeMs: 7 * 24 * 3600_000, bufferLimit: 1000 };

export class ConfigError extends Error {}

export const CONFIG_HELP = `virtplane: GraphQL control plane for libvirt

Usage: npm start            (or: virtplane [--help])

Environment:
  HOST                   address to listen on                         (default 127.0.0.1)
  PORT                   TCP port                                     (default 4000)
  VIRTPLANE_DATA_DIR     SQLite database and runtime files            (default ./data)
  VIRTPLANE_BUS          system | session | a D-Bus address           (unset: embedded private bus
                                                                       with its own libvirt-dbus)
  VIRTPLANE_DRIVER       Test | QEMU: libvirt driver behind libvirt-dbus
                                                                      (default Test when embedded, else QEMU)
  VIRTPLANE_ADMIN_TOKEN  bootstrap admin token (unset: one is generated on first start and printed once)
  VIRTPLANE_EVENTS_MAX_COUNT   keep at most this many events in the log; 0 = no limit (default 100000)
  VIRTPLANE_EVENTS_MAX_AGE_HOURS  drop events older than this; 0 = no limit      (default 168 = 7 days)
                         Pruning never removes an event a connected subscriber has not received yet.
  VIRTPLANE_EVENTS_BUFFER  events a subscriber may lag behind before it is disconnected with close code
                         4008 (default 1000; on its socket: that many × 4 KiB of unsent frames)
  LOG_LEVEL              pino level: fatal error warn info debug trace (default info)
  NODE_ENV               production disables GraphiQL
`;

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 4000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT must be an integer from 0 to 65535, got "${env.PORT}"`);

  let bus: BusTarget | null = null;
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

  return {
    events,
    host: env.HOST?.trim() || '127.0.0.1',
    port,
    dataDir: resolve(env.VIRTPLANE_DATA_DIR?.trim() || './data'),
    bus,
    driver,
    adminToken,
    logLevel,
    development: env.NODE_ENV !== 'production',
  };
}
