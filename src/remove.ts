/**
 * `npm run remove -- --yes [--force]`: takes this virtplane installation (the one the environment names, as for
 * `npm start`) off the host: its guests (refused while there are any, unless --force), the networks, storage
 * pools, nwfilters and nftables table it created, and its data dir. Leaves everything it did not create.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_HELP, ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase } from './db/index.js';
import { LibvirtBus } from './libvirt/bus.js';
import { LibvirtClient } from './libvirt/client.js';
import { startEmbeddedStack, type EmbeddedStack } from './host/embedded.js';
import { DomainsExistError, hasInstallation, HostObjects, HostRemoval } from './services/instance/index.js';
import { DataDirInUseError, lockDataDir, type DataDirLock } from './db/lock.js';
import { DefinedPoolStore } from './db/stores/storage.js';

const USAGE = `Usage: npm run remove -- --yes [--force]

Removes this virtplane installation (the one VIRTPLANE_DATA_DIR and the other settings of npm start name)
from the host: the networks, storage pools, nwfilters and nftables table it created, and its data dir.
Stop the server first. Refuses while domains it created exist; --force destroys and undefines them and
deletes their disks. Without --yes it only says what it would remove.
`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const unknown = args.filter((a) => a !== '--yes' && a !== '--force');
if (unknown.length) {
  process.stderr.write(`virtplane remove: unknown argument ${unknown.join(' ')}\n\n${USAGE}`);
  process.exit(2);
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`virtplane remove: ${err.message}\n\n${CONFIG_HELP}`);
    process.exit(2);
  }
  throw err;
}
if (!hasInstallation(config.dataDir)) {
  process.stdout.write(`virtplane remove: no installation in ${config.dataDir}; nothing to do\n`);
  process.exit(0);
}

/** An embedded server's children alive: the server runs (or its crashed run was never restarted). */
// The server holds this lock for its whole life: while it is taken, the server runs and nothing is removed.
let lock: DataDirLock;
try {
  lock = lockDataDir(config.dataDir);
} catch (err) {
  if (!(err instanceof DataDirInUseError)) throw err;
  process.stderr.write(`virtplane remove: ${err.message}\n`);
  process.exit(1);
}

const db = openDatabase(join(config.dataDir, 'virtplane.sqlite'));
const hostObjects = new HostObjects(db);
const stored = hostObjects.names();
const instance = {
  ...stored,
  storagePool: config.provisioning.storagePool ?? stored.storagePool,
  nftTable: config.nft.table ?? stored.nftTable,
};

// The test driver keeps nothing on the host; the QEMU driver is reached as npm start reaches it.
let embedded: EmbeddedStack | null = null;
let embeddedDir: string | null = null;
let bus: LibvirtBus | null = null;
if (config.driver === 'QEMU') {
  if (config.bus === null) {
    embeddedDir = mkdtempSync(join(tmpdir(), 'virtplane-remove-'));
    embedded = await startEmbeddedStack(embeddedDir, { restart: false });
  }
  bus = await LibvirtBus.connect(config.bus ?? { kind: 'address', address: embedded!.address });
}

const removal = new HostRemoval({
  libvirt: bus && new LibvirtClient(bus, `/org/libvirt/${config.driver}`),
  db,
  hostObjects,
  instance,
  nft: config.nft.binary === null ? null : { binary: config.nft.binary, table: instance.nftTable },
  dataDir: config.dataDir,
  extraPools: () => new DefinedPoolStore(db).list().map((p) => p.name),
});

let code = 0;
try {
  if (!args.includes('--yes')) {
    const domains = await removal.ownDomains();
    process.stdout.write(
      [
        `virtplane remove would take off this host (run again with --yes):`,
        ...domains.map((d) => `  domain ${d.name} (needs --force)`),
        ...hostObjects.list('network').map((n) => `  network ${n}`),
        ...hostObjects.list('storage-pool').map((p) => `  storage pool ${p} and virtplane's disks in it`),
        `  nwfilters ${instance.nwfilterPrefix}*`,
        ...(config.nft.binary === null ? [] : [`  nftables table inet ${instance.nftTable}`]),
        `  the data dir ${config.dataDir}`,
        '',
      ].join('\n'),
    );
  } else {
    const report = await removal.run({ force: args.includes('--force') });
    for (const line of report.removed) process.stdout.write(`removed ${line}\n`);
    for (const line of report.kept) process.stdout.write(`kept ${line}\n`);
    db.$client.close();
    if (report.kept.some((k) => !k.startsWith('files in '))) {
      // Its records are what a second run needs: the data dir stays until everything of virtplane's is gone.
      process.stdout.write(`kept the data dir ${config.dataDir}: run again once the objects above are free\n`);
      code = 1;
    } else {
      rmSync(config.dataDir, { recursive: true, force: true });
      process.stdout.write(`removed the data dir ${config.dataDir}\n`);
    }
  }
} catch (err) {
  code = 1;
  if (err instanceof DomainsExistError) process.stderr.write(`virtplane remove: ${err.message}\n`);
  else process.stderr.write(`virtplane remove: ${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  bus?.disconnect();
  await embedded?.stop();
  if (embeddedDir) rmSync(embeddedDir, { recursive: true, force: true });
  if (db.$client.open) db.$client.close();
  lock.release();
}
process.exit(code);
