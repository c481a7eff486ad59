import type { CpuMode, DomainRecord, DomainType, GraphicsType } from '../../model/index.js';
import type { Viewer } from '../access/index.js';

export interface CreateDomainInput {
  name: string;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  /** Name of the libvirt network the NIC joins. */
  network: string;
  /** Name of an install image (`images`), put into the CD-ROM drive. */
  installImage?: string | null;
  start?: boolean | null;
  /** Exposes the host CPU's virtualisation extensions (host-passthrough); needs domain type kvm. */
  nestedVirt?: boolean | null;
  graphics?: GraphicsType | null;
  /** Admins: the host to create it on (a host's id); absent: placement chooses. */
  host?: string | null;
}

export interface ResizeDomainInput {
  vcpus?: number | null;
  memoryMiB?: number | null;
  diskGiB?: number | null;
}

export interface ProvisioningOptions {
  /**
   * The host whose libvirt this service drives (the hosts table's id): reservations it adopts are on it, and
   * its start-up reconciliation judges only that host's reservations.
   */
  hostId: number;
  /** Storage pool of guest disks; a `dir` pool at `storageDir` is made (on first use) when it is missing. */
  storagePool: string;
  storageDir: string;
  domainType: DomainType;
  maxVcpus: number | null;
  maxMemoryMiB: number | null;
  maxDiskGiB: number;
  partitions: boolean;
  /** Names of this instance's nwfilters start with it (virtplane-<instance id>-). */
  nwfilterPrefix?: string;
  /** Told just before the storage pool is defined because it was missing (it is then virtplane's to remove). */
  onPoolDefining?: (name: string) => void;
  /** Where new guests' serial sockets go (`<uuid>.sock`, QEMU listening); null: a pty, as on the test driver. */
  serialSocketDir?: string | null;
  /**
   * Placement (the hosts module): called inside a create's reservation transaction, right after the quota's
   * reservation; throws when no host takes a guest of that size now (the transaction then undoes it all).
   * Answers the host chosen. Absent: `hostId`, unlimited.
   */
  place?: (viewer: Viewer, needs: { vcpus: number; memoryMiB: number }) => number;
  /**
   * Likewise inside a resize's transaction, after the quota's resize, with its growth (`reserved`: the
   * domain's reservation holds the new size): throws when the domain's host has no room for it.
   */
  fits?: (viewer: Viewer, growth: { vcpus: number; memoryMiB: number }, reserved: boolean) => void;
  /**
   * Told of a domain whose metered figures changed with no event to carry them (a disk grown by a resize:
   * volumes have no lifecycle events), so metering follows at once (services/usage).
   */
  meter?: (domain: DomainRecord) => void;
}

/** What start-up reconciliation fixed. */
export interface ReconcileReport {
  deletionsFinished: number;
  reservationsDropped: number;
  addressesReleased: number;
  addressesPinned: number;
  volumesDeleted: number;
  ownershipRebuilt: number;
}

/** The CPU mode of the guests createDomain makes (unless nestedVirt), which the start-up KVM probe tries. */
export const TEMPLATE_CPU_MODE: CpuMode = 'host-model';

export interface ProvisioningLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export const GiB = 1024 ** 3;
