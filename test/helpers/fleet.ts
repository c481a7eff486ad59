import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_EVENTS } from '../../src/config.js';
import { openDatabase, type Db } from '../../src/db/index.js';
import { HostStore } from '../../src/db/stores/hosts.js';
import { OwnershipStore } from '../../src/db/stores/ownership.js';
import { startHostRuntime, type HostRuntime } from '../../src/host-runtime.js';
import { hostServices } from '../../src/host-services.js';
import { AccessPolicy, QuotaService, UserService } from '../../src/services/access/index.js';
import type { DomainService, ProvisioningService } from '../../src/services/domains/index.js';
import { EventLog, EventStream } from '../../src/services/events/index.js';
import { Fleet, type FleetMember } from '../../src/services/fleet/index.js';
import { HostRegistry, type PlacementLimits } from '../../src/services/hosts/index.js';
import { startLibvirtStack } from './libvirt-stack.js';

export interface ComposedFleet {
  db: Db;
  stacks: Awaited<ReturnType<typeof startLibvirtStack>>[];
  stream: EventStream;
  log: EventLog;
  quotas: QuotaService;
  users: UserService;
  hosts: HostRegistry;
  fleet: Fleet;
  runtimes: HostRuntime[];
  domains: DomainService[];
  provisioning: ProvisioningService[];
  stop(): Promise<void>;
}

/**
 * `count` hosts under one control plane, each a private bus with its own libvirt-dbus (test driver), named
 * hv1, hv2, …: one database, one event log, one quota, placement over all, creates through the fleet. Each
 * host is started and served by what main.ts uses for its one (startHostRuntime, hostServices). For tests and
 * benchmarks of several hosts while the server serves one.
 */
export async function startFleet(count: number, limits?: PlacementLimits): Promise<ComposedFleet> {
  const cleanups: (() => unknown)[] = [];
  const stacks: ComposedFleet['stacks'] = [];
  const dir = mkdtempSync(join(tmpdir(), 'virtplane-fleet-'));
  const db = openDatabase(join(dir, 'db.sqlite'));
  const stop = async () => {
    try {
      for (const fn of cleanups.reverse()) await fn();
    } finally {
      db.$client.close();
      for (const s of stacks) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    for (let i = 0; i < count; i++) stacks.push(await startLibvirtStack());
    const silent = pino({ level: 'silent' });
    const owners = new OwnershipStore(db);
    const access = new AccessPolicy(owners);
    const log = new EventLog(db);
    const stream = new EventStream(log, access, DEFAULT_EVENTS, silent);
    const quotas = new QuotaService(db, access);
    const users = new UserService(db, access);
    const hostStore = new HostStore(db);
    const runtimes: HostRuntime[] = [];
    for (const [i, s] of stacks.entries()) {
      const target = { kind: 'address' as const, address: s.stack.address };
      const options = { target, driver: 'Test', domainType: 'auto' as const, name: `hv${i + 1}` };
      runtimes.push(await startHostRuntime(options, hostStore, stream, silent, (fn) => cleanups.push(fn)));
    }
    const hosts = new HostRegistry(
      hostStore,
      access,
      runtimes.map((r) => r.served),
      (hostId) => quotas.reservationSizes(hostId),
      { append: (e) => stream.host(e), latest: (id) => log.latestHostEvent(id) },
      limits,
    );
    hosts.start();
    cleanups.push(() => hosts.stop());
    const domains: DomainService[] = [];
    const provisioning: ProvisioningService[] = [];
    const members: FleetMember[] = [];
    for (const rt of runtimes) {
      // As main.ts builds its host's services, with the test driver's own pool.
      const services = hostServices(
        rt,
        { db, access, owners, quotas, users, hosts, stream, log: silent },
        {
          imagePools: [],
          managedNat: false,
          provisioning: {
            storagePool: 'default-pool',
            storageDir: '/default-pool',
            maxVcpus: null,
            maxMemoryMiB: null,
            maxDiskGiB: 100,
            partitions: false,
          },
        },
      );
      await services.provisioning.start();
      cleanups.push(services.releaseUndefined());
      domains.push(services.domains);
      provisioning.push(services.provisioning);
      members.push({ hostId: rt.id, provisioning: services.provisioning, networks: services.networks });
    }
    return { db, stacks, stream, log, quotas, users, hosts, fleet: new Fleet(hosts, members), runtimes, domains, provisioning, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
