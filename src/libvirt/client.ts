import type { Lane, LibvirtBus } from './bus.js';
import {
  domainStatesByName,
  hostDomainTypes,
  listDomainPaths,
  listNetworkPaths,
  lookupDomainByUUID,
  ping,
  readHostInfo,
} from './connect.js';
import { defineDomain, readDomain, restoreDomainDefinition } from './domain.js';
import { defineNetwork, lookupNetwork } from './network.js';
import { installCleanTrafficFilters, removeCleanTrafficFilters } from './nwfilter.js';
import { probeDomainType } from './probe.js';
import { StoragePaths, volumeCapacity } from './storage-paths.js';
import { definePool, ensurePool, findVolumeInPools, listPools, lookupPool, lookupPoolByUuid, lookupVolumeByPath } from './storage.js';

/**
 * The one libvirt client: the bus, the driver's object path and the remembered storage paths, built once in
 * main.ts. It binds the calls of the per-kind modules (connect, domain, network, storage, nwfilter, probe)
 * that need the driver path, so services hold one object instead of handing `bus` and `driverPath` to free
 * functions. Calls on an object path (a domain's, a pool's) stay the modules' own and take `bus`; errors are
 * the modules' typed `LibvirtError`s, unchanged.
 */
export class LibvirtClient {
  readonly host;
  readonly domains;
  readonly networks;
  readonly storage;
  readonly nwfilter;

  constructor(
    readonly bus: LibvirtBus,
    readonly driverPath: string,
    /** Shared by every user of this client: a volume created by one is known to the others without a lookup. */
    readonly storagePaths: StoragePaths = new StoragePaths(bus, driverPath),
  ) {
    this.host = {
      ping: ping.bind(null, bus, driverPath),
      readInfo: readHostInfo.bind(null, bus, driverPath),
      domainTypes: hostDomainTypes.bind(null, bus, driverPath),
      probeDomainType: probeDomainType.bind(null, bus, driverPath),
    };
    this.domains = {
      list: listDomainPaths.bind(null, bus, driverPath),
      statesByName: domainStatesByName.bind(null, bus, driverPath),
      lookupByUUID: lookupDomainByUUID.bind(null, bus, driverPath),
      define: defineDomain.bind(null, bus, driverPath),
      restoreDefinition: restoreDomainDefinition.bind(null, bus, driverPath),
      /** A domain's record; disk capacities are looked up through this client's storage paths. */
      read: (path: string, lane?: Lane, known?: Parameters<typeof readDomain>[4], opts?: { sameProperties?: boolean }) =>
        readDomain(bus, driverPath, path, lane, known, this.storagePaths, opts),
    };
    this.networks = {
      list: listNetworkPaths.bind(null, bus, driverPath),
      lookup: lookupNetwork.bind(null, bus, driverPath),
      define: defineNetwork.bind(null, bus, driverPath),
    };
    this.storage = {
      listPools: listPools.bind(null, bus, driverPath),
      lookupPool: lookupPool.bind(null, bus, driverPath),
      lookupPoolByUuid: lookupPoolByUuid.bind(null, bus, driverPath),
      definePool: definePool.bind(null, bus, driverPath),
      ensurePool: ensurePool.bind(null, bus, driverPath),
      lookupVolumeByPath: lookupVolumeByPath.bind(null, bus, driverPath),
      findVolumeInPools: findVolumeInPools.bind(null, bus, driverPath),
      volumeCapacity: volumeCapacity.bind(null, bus, driverPath),
    };
    this.nwfilter = {
      installCleanTraffic: installCleanTrafficFilters.bind(null, bus, driverPath),
      removeCleanTraffic: removeCleanTrafficFilters.bind(null, bus, driverPath),
    };
  }
}
