import { resolve } from 'node:path';
import { TABLE_NAME, type NftConfig } from './firewall/nftables.js';
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
  /** nft binary (null: host firewall changes off) and the `inet` table virtplane owns. */
  nft: NftConfig;
}

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
  VIRTPLANE_NFT          nft binary for NAT port forwards, or "off"   (default nft with QEMU, off with Test)
  VIRTPLANE_NFT_TABLE    the nftables table virtplane owns (inet)     (default virtplane)
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

  // The test driver has no real guests: unless asked, a server on it leaves the host firewall alone.
  const rawNft = env.VIRTPLANE_NFT?.trim() || (driver === 'QEMU' ? 'nft' : 'off');
  const nftTable = env.VIRTPLANE_NFT_TABLE?.trim() || 'virtplane';
  if (!TABLE_NAME.test(nftTable)) throw new ConfigError(`VIRTPLANE_NFT_TABLE must be a letter then up to 31 letters, digits or _, got "${nftTable}"`);

  return {
    host: env.HOST?.trim() || '127.0.0.1',
    port,
    dataDir: resolve(env.VIRTPLANE_DATA_DIR?.trim() || './data'),
    bus,
    driver,
    adminToken,
    logLevel,
    development: env.NODE_ENV !== 'production',
    nft: { binary: rawNft.toLowerCase() === 'off' ? null : rawNft, table: nftTable },
  };
}
