import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { openDatabase, type Db } from '../../src/db/index.js';
import { users } from '../../src/db/schema.js';
import { defineDomainXML } from '../../src/libvirt/connect.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { buildDomainXml } from '../../src/libvirt/xml/domain-builder.js';
import { ImageService } from '../../src/services/storage/images.js';
import { IpamService } from '../../src/services/network/ipam.js';
import { NetworkService } from '../../src/services/network/networks.js';
import { AccessPolicy } from '../../src/services/access/authorization.js';
import { DomainService } from '../../src/services/domains/domains.js';
import { DEFAULT_EVENTS } from '../../src/config.js';
import { EventLog } from '../../src/services/events/log.js';
import { EventStream } from '../../src/services/events/stream.js';
import { LibvirtSync } from '../../src/services/sync/libvirt-sync.js';
import { OwnershipStore } from '../../src/db/stores/ownership.js';
import { ProvisioningService } from '../../src/services/domains/provisioning.js';
import { QuotaService } from '../../src/services/access/quotas.js';
import { StateCache } from '../../src/services/sync/state-cache.js';
import { UserService } from '../../src/services/access/users.js';
import { startLibvirtStack, TEST_DRIVER } from '../helpers/libvirt-stack.js';

// A lost database: libvirt still has a domain with our owner metadata, SQLite has the user but no ownership row.
let stack: Awaited<ReturnType<typeof startLibvirtStack>>;
let db: Db;
let sync: LibvirtSync;
let dir: string;

before(async () => {
  stack = await startLibvirtStack();
  dir = mkdtempSync(join(tmpdir(), 'virtplane-rebuild-'));
  db = openDatabase(join(dir, 'db.sqlite'));
});
after(async () => {
  await sync?.stop();
  db?.$client.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('start-up reconciliation rebuilds ownership from libvirt metadata and drops reservations of missing domains', async () => {
  const userId = randomUUID();
  db.insert(users).values({ id: userId, name: 'tenant', role: 'TENANT', createdAt: new Date() }).run();
  const uuid = randomUUID();
  await defineDomainXML(
    stack.bus,
    TEST_DRIVER,
    buildDomainXml({
      uuid,
      name: 'orphan',
      type: 'test',
      vcpus: 2,
      memoryMiB: 256,
      disks: [],
      interfaces: [{ network: 'default', mac: '52:54:00:aa:bb:cc' }],
      ownerId: userId,
    }),
  );

  /** What a create commits before libvirt is called: reservation (on `hostId`), ownership, MAC and addresses. */
  const committedCreate = (uuid: string, hostId: number | null, mac: string, ipv4: string) => {
    db.$client
      .prepare(
        `INSERT INTO reservations (domain_uuid, user_id, host_id, vcpus, memory_mib, disk_gib, interfaces) VALUES (?, ?, ?, 1, 64, 1, 1)`,
      )
      .run(uuid, userId, hostId);
    db.$client.prepare(`INSERT INTO domain_owners (domain_uuid, user_id, assigned_at) VALUES (?, ?, ?)`).run(uuid, userId, Date.now());
    db.$client.prepare(`INSERT INTO mac_leases (mac, domain_uuid) VALUES (?, ?)`).run(mac, uuid);
    db.$client
      .prepare(`INSERT INTO ip_allocations (mac, network_uuid, domain_uuid, ipv4, ipv6) VALUES (?, ?, ?, ?, NULL)`)
      .run(mac, randomUUID(), uuid, ipv4);
  };

  // A create that crashed after its one commit and before libvirt defined the domain: reservation (as it was
  // before reservations named their host), ownership, MAC and addresses of a domain libvirt never got.
  const crashed = randomUUID();
  committedCreate(crashed, null, '52:54:00:0c:0c:0c', '192.0.2.12');

  // A domain on another host (hv2): its reservation, ownership, lease, addresses and unfinished deletion are
  // that host's reconciliation's business, whatever this host's libvirt lacks.
  const elsewhere = randomUUID();
  db.$client.prepare(`INSERT INTO hosts (id, name) VALUES (1, 'hv1'), (2, 'hv2')`).run();
  committedCreate(elsewhere, 2, '52:54:00:0e:0e:0e', '192.0.2.14');
  db.$client
    .prepare(`INSERT INTO domain_deletions (domain_uuid, domain_name, keep_disk, volumes) VALUES (?, 'away', 0, '[]')`)
    .run(elsewhere);

  const cache = new StateCache();
  const owners = new OwnershipStore(db);
  const access = new AccessPolicy(owners);
  const stream = new EventStream(new EventLog(db), access, DEFAULT_EVENTS, pino({ level: 'silent' }));
  const libvirt = new LibvirtClient(stack.bus, TEST_DRIVER);
  sync = new LibvirtSync(libvirt, cache, stream.forHost(1), pino({ level: 'silent' }));
  await sync.start();
  const quotas = new QuotaService(db, access);
  const userService = new UserService(db, access);
  const domains = new DomainService(stack.bus, cache, sync, access);
  const networks = new NetworkService(libvirt, db, cache, sync, access);
  const ipam = new IpamService(stack.bus, db, cache, networks, sync, access);
  const images = new ImageService(db, libvirt, [], access);
  const options = {
    hostId: 1,
    storagePool: 'default-pool',
    storageDir: '/default-pool',
    domainType: 'test' as const,
    maxVcpus: null,
    maxMemoryMiB: null,
    maxDiskGiB: 100,
    partitions: false,
  };
  const log = { info: () => {}, warn: () => {} };
  const provisioning = new ProvisioningService(
    libvirt,
    db,
    cache,
    sync,
    access,
    domains,
    owners,
    quotas,
    userService,
    ipam,
    images,
    options,
    log,
  );

  const viewer = { userId, name: 'tenant', role: 'TENANT' as const, tokenId: 't' };
  // Before the rebuild, the metadata alone already decides visibility.
  assert.deepEqual(
    domains.list(viewer).map((d) => d.name),
    ['orphan'],
  );
  const stale = randomUUID();
  db.$client
    .prepare(`INSERT INTO reservations (domain_uuid, user_id, vcpus, memory_mib, disk_gib, interfaces) VALUES (?, ?, 1, 1, 1, 1)`)
    .run(stale, userId);

  assert.equal(owners.get(crashed), userId);
  const first = await provisioning.reconcile();
  assert.deepEqual([first.reservationsDropped, first.addressesReleased, first.ownershipRebuilt], [2, 1, 1]);
  assert.equal(owners.get(uuid), userId);
  assert.equal(owners.get(crashed), undefined, 'the crashed create owns nothing any more');
  for (const table of ['reservations', 'domain_owners', 'mac_leases', 'ip_allocations']) {
    assert.equal(
      (db.$client.prepare(`SELECT count(*) AS n FROM ${table} WHERE domain_uuid = ?`).get(crashed) as { n: number }).n,
      0,
      table,
    );
  }
  for (const table of ['reservations', 'domain_owners', 'mac_leases', 'ip_allocations', 'domain_deletions']) {
    assert.equal(
      (db.$client.prepare(`SELECT count(*) AS n FROM ${table} WHERE domain_uuid = ?`).get(elsewhere) as { n: number }).n,
      1,
      `${table}: the other host's domain keeps its row`,
    );
  }
  assert.deepEqual(quotas.usage(userId), { domains: 2, vcpus: 3, memoryMiB: 320, diskGiB: 1, interfaces: 2, portForwards: 0 });
  const again = await provisioning.reconcile();
  assert.deepEqual([again.reservationsDropped, again.ownershipRebuilt], [0, 0]);

  // A reassignment whose SQLite half was lost: the metadata names the new owner, SQLite still the old one.
  const previous = randomUUID();
  db.insert(users).values({ id: previous, name: 'previous', role: 'TENANT', createdAt: new Date() }).run();
  quotas.transaction((tx) => {
    quotas.adopt(previous, uuid, { vcpus: 2, memoryMiB: 256, diskGiB: 0, interfaces: 1 }, 1, tx);
    owners.write(tx, uuid, previous);
  });
  const corrected = await provisioning.reconcile();
  assert.equal(corrected.ownershipRebuilt, 1);
  assert.equal(owners.get(uuid), userId);
  assert.equal(quotas.usage(previous).domains, 0);
  assert.equal(quotas.usage(userId).domains, 2, 'the orphan, and the domain on hv2');
  // The unowned test-driver domain stays unowned: admins only.
  assert.equal(access.ownerOf(cache.domains.get('6695eb01-f6a4-8304-79aa-97f2502e193f')!), null);
});
