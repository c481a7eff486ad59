import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Db } from '../../db/index.js';
import { ProvisioningStore } from '../../db/stores/provisioning.js';
import { TenantStore } from '../../db/stores/tenants.js';
import { deleteTable, type NftConfig } from '../../host/nftables.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import { domainActions, getDomainXml, undefineDomainFully, uuidFromDomainPath } from '../../libvirt/domain.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { networkActions } from '../../libvirt/network.js';
import { deletePoolStorage, deleteVolume, listVolumes, readPool, readVolume, stopPool, undefinePool } from '../../libvirt/storage.js';
import { LEGACY_NAMES, type HostObjects, type InstanceNames } from './instance.js';

/**
 * Takes virtplane off a host: what it created there (its guests, networks, storage pools, nwfilters and
 * nftables table), and nothing else. What it cannot remove without harming something that is not its own (a
 * network another guest uses, files it did not make in a pool directory) is kept and reported.
 */
export interface RemovalReport {
  removed: string[];
  /** Each with the reason it stays. */
  kept: string[];
}

/** virtplane's domains still on the host; removal refuses while there are any, unless forced. */
export class DomainsExistError extends Error {
  constructor(readonly domains: string[]) {
    super(
      `virtplane's domains still exist: ${domains.join(', ')} (delete them, or pass --force to destroy and undefine them with their disks)`,
    );
  }
}

export interface RemovalTarget {
  /** Null when there is no libvirt to clean (the Test driver). */
  libvirt: LibvirtClient | null;
  db: Db;
  hostObjects: HostObjects;
  instance: InstanceNames;
  nft: NftConfig | null;
  dataDir: string;
  /**
   * Storage pools virtplane defined, beyond the one for guest disks: those defined through the API
   * (`DefinedPoolStore`).
   */
  extraPools?: () => string[];
}

const notFound = (err: unknown) => err instanceof LibvirtError && err.kind === 'NOT_FOUND';

export class HostRemoval {
  constructor(private readonly t: RemovalTarget) {}

  /** UUIDs and names of domains virtplane created (they hold a quota reservation) that libvirt still has. */
  async ownDomains(): Promise<{ uuid: string; name: string; path: string }[]> {
    const { libvirt } = this.t;
    if (!libvirt) return [];
    const ours = new TenantStore(this.t.db).reservedDomains();
    const out: { uuid: string; name: string; path: string }[] = [];
    for (const path of await libvirt.domains.list()) {
      const uuid = uuidFromDomainPath(path);
      if (!ours.has(uuid)) continue;
      const xml = await getDomainXml(libvirt.bus, path);
      out.push({ uuid, path, name: /<name>([^<]*)<\/name>/.exec(xml)?.[1] ?? uuid });
    }
    return out;
  }

  /** The storage pools virtplane defined (recorded when it defined them; an older install's by its location). */
  private async ownPools(): Promise<string[]> {
    const pools = new Set([...this.t.hostObjects.list('storage-pool'), ...(this.t.extraPools?.() ?? [])]);
    // Installs from before the record: the pool with the old default name, where virtplane puts it.
    if (pools.size === 0 && this.t.instance.storagePool === LEGACY_NAMES.storagePool && this.t.libvirt) {
      try {
        const pool = await readPool(this.t.libvirt.bus, await this.t.libvirt.storage.lookupPool(LEGACY_NAMES.storagePool));
        if (pool.targetPath === join(this.t.dataDir, 'storage')) pools.add(pool.name);
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    }
    return [...pools];
  }

  async run(opts: { force: boolean }): Promise<RemovalReport> {
    const report: RemovalReport = { removed: [], kept: [] };
    const { libvirt } = this.t;
    if (libvirt) {
      const { bus } = libvirt;
      const domains = await this.ownDomains();
      if (domains.length && !opts.force) throw new DomainsExistError(domains.map((d) => d.name));
      for (const d of domains) {
        await domainActions.destroy(bus, d.path).catch(() => {}); // not running: nothing to stop
        await undefineDomainFully(bus, d.path);
        report.removed.push(`domain ${d.name}`);
      }
      await this.removeNetworks(libvirt, report);
      await this.removePools(libvirt, report);
      try {
        const filters = await libvirt.nwfilter.removeCleanTraffic(this.t.instance.nwfilterPrefix);
        report.removed.push(...filters.map((f) => `nwfilter ${f}`));
      } catch (err) {
        report.kept.push(`nwfilters ${this.t.instance.nwfilterPrefix}*: ${String(err)}`);
      }
    }
    if (this.t.nft) {
      try {
        if (await deleteTable(this.t.nft)) report.removed.push(`nftables table inet ${this.t.nft.table}`);
      } catch (err) {
        report.kept.push(`nftables table inet ${this.t.nft.table}: ${String(err)}`);
      }
    }
    return report;
  }

  private async removeNetworks(libvirt: LibvirtClient, report: RemovalReport): Promise<void> {
    const { bus } = libvirt;
    const xmls = await Promise.all((await libvirt.domains.list()).map((p) => getDomainXml(bus, p)));
    for (const name of this.t.hostObjects.list('network')) {
      let path: string;
      try {
        path = await libvirt.networks.lookup(name);
      } catch (err) {
        if (!notFound(err)) throw err;
        this.t.hostObjects.forget('network', name);
        continue;
      }
      // Some other guest still has a NIC on it: taking it away would cut that guest off.
      const quoted = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (xmls.some((x) => new RegExp(`<source network=['"]${quoted}['"]`).test(x))) {
        report.kept.push(`network ${name}: a domain that is not virtplane's uses it`);
        continue;
      }
      await networkActions.destroy(bus, path).catch(() => {}); // not running
      await networkActions.undefine(bus, path);
      this.t.hostObjects.forget('network', name);
      report.removed.push(`network ${name}`);
    }
  }

  private async removePools(libvirt: LibvirtClient, report: RemovalReport): Promise<void> {
    const { bus } = libvirt;
    const kept = new ProvisioningStore(this.t.db).keptVolumes();
    for (const name of await this.ownPools()) {
      let path: string;
      try {
        path = await libvirt.storage.lookupPool(name);
      } catch (err) {
        if (!notFound(err)) throw err;
        this.t.hostObjects.forget('storage-pool', name);
        continue;
      }
      const pool = await readPool(bus, path);
      const others: string[] = [];
      if (pool.active) {
        for (const vol of await listVolumes(bus, path)) {
          const v = await readVolume(bus, vol);
          // Guest disks are virtplane's (vp-<uuid>); disks kept by deleteDomain(keepDisk) and anything else stay.
          if (/^vp-[0-9a-f-]{36}(\.qcow2)?$/.test(v.name) && !kept.has(`${name}/${v.name}`)) await deleteVolume(bus, vol);
          else others.push(v.name);
        }
        await stopPool(bus, path);
      }
      if (others.length === 0 && pool.type === 'dir') await deletePoolStorage(bus, path).catch(() => {}); // its (empty) directory
      await undefinePool(bus, path);
      this.t.hostObjects.forget('storage-pool', name);
      report.removed.push(`storage pool ${name}`);
      if (others.length) report.kept.push(`files in ${pool.targetPath ?? name} that are not virtplane's guest disks: ${others.join(', ')}`);
    }
  }
}

/** Whether a data dir holds a virtplane database. */
export function hasInstallation(dataDir: string): boolean {
  return existsSync(join(dataDir, 'virtplane.sqlite'));
}
