import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { readmeWithSettings } from '../../scripts/settings-text.js';
import { CONFIG_HELP, ConfigError, loadConfig, SETTING_LIST } from '../../src/config.js';

test('with no settings the server listens on 127.0.0.1:4000, embedded, on the Test driver, with the documented defaults', () => {
  assert.deepEqual(loadConfig({}), {
    limits: { maxDepth: 10, maxAliases: 15, maxTokens: 2000, maxCost: 50000, maxDirectives: 20, maxSubscriptionsPerToken: 20 },
    events: { maxCount: 100_000, maxAgeMs: 168 * 3600_000, bufferLimit: 1000 },
    http: { maxBodyBytes: 1048576, corsOrigins: [] },
    resyncCheckMs: 30_000,
    usageRetentionDays: 400,
    rateLimitPerMinute: 600,
    placement: { cpuAllocationRatio: null, memoryAllocationRatio: null },
    host: '127.0.0.1',
    port: 4000,
    dataDir: resolve('./data'),
    bus: null,
    driver: 'Test',
    otherHosts: [],
    adminToken: null,
    logLevel: 'info',
    development: true,
    publicHost: hostname(),
    maxUploadBytes: 8 * 1024 ** 3,
    console: { sshTunnel: true, publicUrl: null },
    imagePools: [],
    nft: { binary: null, table: null },
    provisioning: {
      storagePool: null,
      storageDir: resolve('./data/storage'),
      domainType: 'auto',
      maxVcpus: null,
      maxMemoryMiB: null,
      maxDiskGiB: 1024,
      partitions: false,
    },
  });
});

test('every setting is read from its variable', () => {
  const config = loadConfig({
    HOST: ' 0.0.0.0 ',
    PORT: '8080',
    VIRTPLANE_DATA_DIR: '/srv/vp',
    VIRTPLANE_BUS: 'unix:path=/run/bus',
    VIRTPLANE_ADMIN_TOKEN: '0123456789abcdef',
    VIRTPLANE_PUBLIC_HOST: 'vm.example.net',
    VIRTPLANE_IMAGE_POOLS: 'isos, more ,',
    VIRTPLANE_MAX_UPLOAD_GIB: '0.5',
    VIRTPLANE_NFT_TABLE: 'vp_table',
    VIRTPLANE_EVENTS_MAX_COUNT: '10.7',
    VIRTPLANE_EVENTS_MAX_AGE_HOURS: '0.5',
    VIRTPLANE_EVENTS_BUFFER: '0',
    VIRTPLANE_RESYNC_CHECK_SECONDS: '0.25',
    VIRTPLANE_USAGE_RETENTION_DAYS: '30',
    VIRTPLANE_RATE_LIMIT_PER_MINUTE: '120',
    VIRTPLANE_STORAGE_POOL: 'guests',
    VIRTPLANE_HOSTS: ' hv2=unix:path=/run/hv2/bus  hv3.example.net=unix:abstract=/tmp/x,guid=0a ',
    VIRTPLANE_DOMAIN_TYPE: 'KVM',
    VIRTPLANE_MAX_VCPUS: '4',
    VIRTPLANE_CPU_ALLOCATION_RATIO: '4',
    VIRTPLANE_MEMORY_ALLOCATION_RATIO: '0.9',
    VIRTPLANE_MAX_MEMORY_MIB: '2048',
    VIRTPLANE_MAX_DISK_GIB: '20',
    VIRTPLANE_PARTITIONS: 'On',
    VIRTPLANE_MAX_BODY_BYTES: '2000',
    VIRTPLANE_CORS_ORIGINS: 'https://ui.example.com, http://localhost:3000',
    VIRTPLANE_PUBLIC_URL: 'https://vm-host.example.net/vp//',
    VIRTPLANE_CONSOLE_SSH_TUNNEL: 'OFF',
    LOG_LEVEL: 'debug',
    NODE_ENV: 'production',
    VIRTPLANE_MAX_DEPTH: '5',
    VIRTPLANE_MAX_ALIASES: '6',
    VIRTPLANE_MAX_TOKENS: '7',
    VIRTPLANE_MAX_COST: '8',
    VIRTPLANE_MAX_DIRECTIVES: '9',
    VIRTPLANE_MAX_SUBSCRIPTIONS_PER_TOKEN: '3',
  });
  assert.deepEqual(config, {
    limits: { maxDepth: 5, maxAliases: 6, maxTokens: 7, maxCost: 8, maxDirectives: 9, maxSubscriptionsPerToken: 3 },
    events: { maxCount: 10, maxAgeMs: 1800_000, bufferLimit: 1 },
    http: { maxBodyBytes: 2000, corsOrigins: ['https://ui.example.com', 'http://localhost:3000'] },
    resyncCheckMs: 250,
    usageRetentionDays: 30,
    rateLimitPerMinute: 120,
    placement: { cpuAllocationRatio: 4, memoryAllocationRatio: 0.9 },
    host: '0.0.0.0',
    port: 8080,
    dataDir: '/srv/vp',
    bus: { kind: 'address', address: 'unix:path=/run/bus' },
    driver: 'QEMU',
    otherHosts: [
      { name: 'hv2', bus: { kind: 'address', address: 'unix:path=/run/hv2/bus' } },
      { name: 'hv3.example.net', bus: { kind: 'address', address: 'unix:abstract=/tmp/x,guid=0a' } },
    ],
    adminToken: '0123456789abcdef',
    logLevel: 'debug',
    development: false,
    publicHost: 'vm.example.net',
    maxUploadBytes: 512 * 1024 ** 2,
    console: { sshTunnel: false, publicUrl: 'https://vm-host.example.net/vp' },
    imagePools: ['isos', 'more'],
    nft: { binary: 'nft', table: 'vp_table' },
    provisioning: {
      storagePool: 'guests',
      storageDir: '/srv/vp/storage',
      domainType: 'kvm',
      maxVcpus: 4,
      maxMemoryMiB: 2048,
      maxDiskGiB: 20,
      partitions: true,
    },
  });
});

test('the bus, driver and nft settings depend on each other as documented', () => {
  assert.deepEqual(loadConfig({ VIRTPLANE_BUS: 'system' }).bus, { kind: 'system' });
  assert.deepEqual(loadConfig({ VIRTPLANE_BUS: ' session ' }).bus, { kind: 'session' });
  assert.equal(loadConfig({ VIRTPLANE_BUS: 'system' }).driver, 'QEMU');
  assert.equal(loadConfig({ VIRTPLANE_BUS: 'system', VIRTPLANE_DRIVER: 'test' }).driver, 'Test');
  assert.equal(loadConfig({ VIRTPLANE_DRIVER: 'qemu' }).driver, 'QEMU');
  assert.deepEqual(loadConfig({ VIRTPLANE_DRIVER: 'QEMU' }).nft, { binary: 'nft', table: null });
  assert.deepEqual(loadConfig({ VIRTPLANE_DRIVER: 'QEMU', VIRTPLANE_NFT: 'OFF' }).nft, { binary: null, table: null });
  assert.deepEqual(loadConfig({ VIRTPLANE_NFT: '/usr/sbin/nft' }).nft, { binary: '/usr/sbin/nft', table: null });
  assert.equal(loadConfig({ VIRTPLANE_STORAGE_DIR: 'pool' }).provisioning.storageDir, resolve('pool'));
  assert.deepEqual(loadConfig({ VIRTPLANE_CORS_ORIGINS: '*' }).http?.corsOrigins, ['*']);
  assert.equal(loadConfig({ PORT: '' }).port, 0, 'an empty PORT is port 0, as before');
});

test('a wrong setting is refused with a message that names the variable and what it accepts', () => {
  const refused: [Record<string, string>, string][] = [
    [{ PORT: '65536' }, 'PORT must be an integer from 0 to 65535, got "65536"'],
    [{ PORT: 'x' }, 'PORT must be an integer from 0 to 65535, got "x"'],
    [{ VIRTPLANE_BUS: '/run/bus' }, 'VIRTPLANE_BUS must be "system", "session" or a D-Bus address like unix:path=/run/bus, got "/run/bus"'],
    [{ VIRTPLANE_DRIVER: 'xen' }, 'VIRTPLANE_DRIVER must be "Test" or "QEMU", got "xen"'],
    [
      { VIRTPLANE_HOSTS: 'hv2:/run/bus' },
      'VIRTPLANE_HOSTS must list name=address pairs like hv2=unix:path=/run/hv2/bus, got "hv2:/run/bus"',
    ],
    [{ VIRTPLANE_HOSTS: 'hv2=unix:path=/a hv2=unix:path=/b' }, 'VIRTPLANE_HOSTS names host "hv2" twice'],
    [{ VIRTPLANE_HOSTS: 'hv2=unix:path=/a hv3=unix:path=/a' }, 'VIRTPLANE_HOSTS lists the address unix:path=/a twice'],
    [
      { VIRTPLANE_BUS: 'unix:path=/a', VIRTPLANE_HOSTS: 'hv2=unix:path=/a' },
      'VIRTPLANE_HOSTS lists unix:path=/a, the bus of VIRTPLANE_BUS (the host the server runs beside)',
    ],
    [{ VIRTPLANE_ADMIN_TOKEN: 'short' }, 'VIRTPLANE_ADMIN_TOKEN must be at least 16 characters'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    [{ VIRTPLANE_MAX_DEPTH: '0' }, 'VIRTPLANE_MAX_DEPTH must be a positive integer, got "0"'],
    [{ VIRTPLANE_MAX_SUBSCRIPTIONS_PER_TOKEN: '1.5' }, 'VIRTPLANE_MAX_SUBSCRIPTIONS_PER_TOKEN must be a positive integer, got "1.5"'],
    [{ VIRTPLANE_NFT_TABLE: '1table' }, 'VIRTPLANE_NFT_TABLE must be a letter then up to 31 letters, digits or _, got "1table"'],
    [{ VIRTPLANE_EVENTS_MAX_COUNT: '-1' }, 'VIRTPLANE_EVENTS_MAX_COUNT must be a number ≥ 0, got "-1"'],
    [{ VIRTPLANE_EVENTS_MAX_AGE_HOURS: 'week' }, 'VIRTPLANE_EVENTS_MAX_AGE_HOURS must be a number ≥ 0, got "week"'],
    [{ VIRTPLANE_EVENTS_BUFFER: 'Infinity' }, 'VIRTPLANE_EVENTS_BUFFER must be a number ≥ 0, got "Infinity"'],
    [{ VIRTPLANE_RESYNC_CHECK_SECONDS: '0.05' }, 'VIRTPLANE_RESYNC_CHECK_SECONDS must be at least 0.1, got "0.05"'],
    [{ VIRTPLANE_RESYNC_CHECK_SECONDS: '-2' }, 'VIRTPLANE_RESYNC_CHECK_SECONDS must be a number ≥ 0, got "-2"'],
    [{ VIRTPLANE_DOMAIN_TYPE: 'xen' }, 'VIRTPLANE_DOMAIN_TYPE must be auto, kvm or qemu, got "xen"'],
    [{ VIRTPLANE_PARTITIONS: 'yes' }, 'VIRTPLANE_PARTITIONS must be on or off, got "yes"'],
    [
      { VIRTPLANE_CORS_ORIGINS: 'https://ui.example.com/app' },
      'VIRTPLANE_CORS_ORIGINS must list origins like https://ui.example.com (scheme and host, no path) or *, got "https://ui.example.com/app"',
    ],
    [{ VIRTPLANE_MAX_BODY_BYTES: '0' }, 'VIRTPLANE_MAX_BODY_BYTES must be a positive integer, got "0"'],
    [{ VIRTPLANE_MAX_UPLOAD_GIB: '0' }, 'VIRTPLANE_MAX_UPLOAD_GIB must be above 0, got "0"'],
    [{ VIRTPLANE_MAX_UPLOAD_GIB: '-1' }, 'VIRTPLANE_MAX_UPLOAD_GIB must be a number ≥ 0, got "-1"'],
    [{ VIRTPLANE_CONSOLE_SSH_TUNNEL: 'maybe' }, 'VIRTPLANE_CONSOLE_SSH_TUNNEL must be on or off, got "maybe"'],
    [{ VIRTPLANE_PUBLIC_URL: 'ftp://x' }, 'VIRTPLANE_PUBLIC_URL must be an http:// or https:// URL without query, got "ftp://x"'],
    [
      { VIRTPLANE_PUBLIC_URL: 'https://x/?a=1' },
      'VIRTPLANE_PUBLIC_URL must be an http:// or https:// URL without query, got "https://x/?a=1"',
    ],
    [{ VIRTPLANE_CPU_ALLOCATION_RATIO: '0' }, 'VIRTPLANE_CPU_ALLOCATION_RATIO must be a number above 0, got "0"'],
    [{ VIRTPLANE_MEMORY_ALLOCATION_RATIO: 'half' }, 'VIRTPLANE_MEMORY_ALLOCATION_RATIO must be a number above 0, got "half"'],
    [{ VIRTPLANE_MAX_VCPUS: '2.5' }, 'VIRTPLANE_MAX_VCPUS must be a positive integer, got "2.5"'],
    [{ VIRTPLANE_MAX_MEMORY_MIB: '-5' }, 'VIRTPLANE_MAX_MEMORY_MIB must be a positive integer, got "-5"'],
    [{ VIRTPLANE_MAX_DISK_GIB: 'lots' }, 'VIRTPLANE_MAX_DISK_GIB must be a positive integer, got "lots"'],
  ];
  for (const [env, message] of refused) {
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => err instanceof ConfigError && err.message === message,
      JSON.stringify(env),
    );
  }
});

test('the table of settings names every variable loadConfig reads, and --help lists each of them', () => {
  const read = new Set<string>();
  loadConfig(new Proxy({}, { get: (_, name) => (typeof name === 'string' && read.add(name), undefined) }));
  assert.deepEqual([...read].sort(), SETTING_LIST.map((s) => s.name).sort());
  for (const s of SETTING_LIST) assert.match(CONFIG_HELP, new RegExp(`^  ${s.name} `, 'm'));
});

test("README.md's table of settings is the one src/config.ts defines (run `npm run docs:settings` after changing a setting)", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.equal(readme, readmeWithSettings(readme));
});
