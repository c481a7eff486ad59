import type { Logger } from 'pino';
import type { Db } from './db/index.js';
import type { OwnershipStore } from './db/stores/ownership.js';
import type { DefinedPoolStore } from './db/stores/storage.js';
import type { HostRuntime } from './host-runtime.js';
import type { DomainRecord } from './model/index.js';
import type { AccessPolicy, QuotaService, UserService } from './services/access/index.js';
import { DomainService, ProvisioningService, type ProvisioningOptions } from './services/domains/index.js';
import type { EventStream } from './services/events/index.js';
import type { HostRegistry } from './services/hosts/index.js';
import type { HostObjects } from './services/instance/index.js';
import { IpamService, NetworkService } from './services/network/index.js';
import { ImageService } from './services/storage/index.js';

/** What every host's services share: the control plane's database, access, quotas, users, hosts and log. */
export interface ControlPlane {
  db: Db;
  access: AccessPolicy;
  owners: OwnershipStore;
  quotas: QuotaService;
  users: UserService;
  hosts: HostRegistry;
  stream: EventStream;
  log: Logger;
}

export interface HostServiceOptions {
  /** Directories of install images (VIRTPLANE_IMAGE_POOLS). */
  imagePools: string[];
  /** NAT networks are virtplane's own (nftables on) rather than libvirt's NAT mode. */
  managedNat: boolean;
  /** This instance's nwfilter names and its record of host-wide objects (for `npm run remove`). */
  instance?: { nwfilterPrefix?: string; hostObjects?: HostObjects };
  /** How its guests are made (storage pool, size bounds, serial sockets, …); host and placement are added here. */
  provisioning: Omit<ProvisioningOptions, 'hostId' | 'domainType' | 'place' | 'fits' | 'meter'>;
  /** Told of a guest whose metered figures changed without an event (usage). */
  meter?: (hostId: number, domain: DomainRecord) => void;
  definedPools?: DefinedPoolStore;
}

/** One host's services: each bound to that host's runtime (its libvirt, cache and sync). */
export interface HostServices {
  hostId: number;
  domains: DomainService;
  networks: NetworkService;
  ipam: IpamService;
  images: ImageService;
  provisioning: ProvisioningService;
  /**
   * From now on, a domain undefined behind virtplane's back on this host (`virsh undefine`) frees its owner's
   * quota and addresses — once it is really gone: a renamed one, or a running one that became transient, still
   * exists. Answers the stop. Once per host: each call follows the events anew.
   */
  releaseUndefined(): () => void;
}

/**
 * The services of one host, as the server builds them for each host it serves (and tests and benchmarks of
 * several hosts build them the same way): its domains, networks, addresses, images and provisioning, bound to
 * its runtime, placing on it (`HostRegistry.placeOn`) and reconciling only what is its own.
 */
export function hostServices(rt: HostRuntime, cp: ControlPlane, opts: HostServiceOptions): HostServices {
  const domains = new DomainService(rt.bus, rt.cache, rt.sync, cp.access);
  const images = new ImageService(cp.db, rt.libvirt, opts.imagePools, cp.access);
  const networks = new NetworkService(rt.libvirt, cp.db, rt.cache, rt.sync, cp.access, opts.managedNat, opts.instance);
  const ipam = new IpamService(rt.bus, cp.db, rt.cache, networks, rt.sync, cp.access);
  const meter = opts.meter;
  const provisioning = new ProvisioningService(
    rt.libvirt,
    cp.db,
    rt.cache,
    rt.sync,
    cp.access,
    domains,
    cp.owners,
    cp.quotas,
    cp.users,
    ipam,
    images,
    {
      ...opts.provisioning,
      hostId: rt.id,
      domainType: rt.domainType.type,
      place: (viewer, needs) => cp.hosts.placeOn(viewer, rt.id, needs),
      fits: (viewer, growth, reserved) => cp.hosts.fits(viewer, growth, reserved, rt.id),
      ...(meter ? { meter: (domain: DomainRecord) => meter(rt.id, domain) } : {}),
    },
    cp.log.child({ component: 'provisioning', host: rt.id }),
    opts.definedPools,
  );
  const releaseUndefined = () => {
    const gone = cp.stream.domains.subscribe((e) => e.type === 'UNDEFINED' && e.hostId === rt.id && !rt.cache.domains.has(e.domain.uuid));
    void (async () => {
      for await (const e of gone) {
        await provisioning
          .forget(e.domain.uuid)
          .catch((err) => cp.log.warn({ err: String(err), domain: e.domain.uuid }, 'releasing an undefined domain failed'));
      }
    })().catch((err) => cp.log.error({ err }, 'releasing quota of undefined domains stopped'));
    return () => void gone.return?.();
  };
  return { hostId: rt.id, domains, networks, ipam, images, provisioning, releaseUndefined };
}
