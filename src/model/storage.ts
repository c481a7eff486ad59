/**
 * Storage pools virtplane manages: `dir` (files under a directory) and `logical` (an LVM volume group, the
 * seed's choice: one logical volume per guest disk).
 */
export type PoolSpec =
  | { type: 'dir'; name: string; targetPath: string }
  | {
      type: 'logical';
      name: string;
      /** Volume group name; defaults to the pool name. */
      vgName?: string;
      /** Physical volumes the group is built from (for Build); empty for an existing group. */
      devices: string[];
      /** Where the LVs appear; defaults to /dev/<vgName>. */
      targetPath?: string;
    };

/** libvirt's pool states and types, as libvirt names them (index = libvirt's number). */
export const POOL_STATES = ['INACTIVE', 'BUILDING', 'RUNNING', 'DEGRADED', 'INACCESSIBLE'] as const;
export type PoolState = (typeof POOL_STATES)[number];

/** libvirt's storage pool types (`<pool type=…>`), upper-cased; a type not listed reads as OTHER. */
export const POOL_TYPES = [
  'DIR',
  'FS',
  'NETFS',
  'LOGICAL',
  'DISK',
  'ISCSI',
  'ISCSI_DIRECT',
  'SCSI',
  'MPATH',
  'RBD',
  'SHEEPDOG',
  'GLUSTER',
  'ZFS',
  'VSTORAGE',
  'OTHER',
] as const;
export type PoolType = (typeof POOL_TYPES)[number];
