import { POOL_STATES, POOL_TYPES } from '../model/index.js';
import type { StoragePoolView } from '../services/storage/index.js';
import { builder } from './builder.js';
import { connectionFromSorted, countedConnection } from './connection.js';
import type { Context } from './context.js';
import { STORAGE_POOL_ERRORS } from './errors.js';
import { localId } from './ids.js';

const StoragePoolTypeEnum = builder.enumType('StoragePoolType', {
  description: "libvirt's pool types (`<pool type=…>`); OTHER for one not listed.",
  values: POOL_TYPES,
});

const StoragePoolStateEnum = builder.enumType('StoragePoolState', { description: "libvirt's virStoragePoolState.", values: POOL_STATES });

export const StoragePoolRef = builder.node(builder.objectRef<StoragePoolView>('StoragePool'), {
  description: 'A libvirt storage pool (admins only): where guest disks and install images live.',
  id: { resolve: (p) => p.uuid },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'definedByVirtplane' in v,
  loadOne: (uuid, ctx) => ctx.services.storagePools.find(ctx.viewer, uuid),
  fields: (t) => ({
    uuid: t.exposeString('uuid'),
    name: t.exposeString('name'),
    type: t.field({ type: StoragePoolTypeEnum, resolve: (p) => p.kind }),
    state: t.field({ type: StoragePoolStateEnum, resolve: (p) => p.state }),
    active: t.exposeBoolean('active'),
    persistent: t.exposeBoolean('persistent'),
    autostart: t.exposeBoolean('autostart'),
    path: t.exposeString('targetPath', { nullable: true, description: 'Directory (DIR) or /dev/<volume group> (LOGICAL).' }),
    vgName: t.exposeString('sourceName', { nullable: true, description: 'The volume group of a LOGICAL pool.' }),
    sourceDevices: t.exposeStringList('sourceDevices', { description: 'Physical volumes of a LOGICAL pool.' }),
    capacityBytes: t.float({
      description: 'Zero while the pool is inactive (libvirt knows sizes only of active pools).',
      resolve: (p) => p.capacityBytes,
    }),
    allocationBytes: t.float({ resolve: (p) => p.allocationBytes }),
    availableBytes: t.float({ resolve: (p) => p.availableBytes }),
    definedByVirtplane: t.exposeBoolean('definedByVirtplane', {
      description:
        'Defined through virtplane (createStoragePool, or the guest-disk pool made at start-up): only these can be deleted through the API.',
    }),
  }),
});

builder.queryField('storagePools', (t) =>
  t.connection(
    {
      type: StoragePoolRef,
      description: 'Storage pools with their capacity, ordered by name (admins only; FORBIDDEN otherwise).',
      resolve: async (_r, args, ctx) =>
        connectionFromSorted(await ctx.services.storagePools.list(ctx.viewer), args, (p) => [p.name, p.uuid]),
    },
    countedConnection('StoragePoolConnection'),
    { name: 'StoragePoolEdge' },
  ),
);

const CreateStoragePoolTypeEnum = builder.enumType('CreateStoragePoolType', {
  description: 'Pool types createStoragePool offers.',
  values: ['DIR', 'LOGICAL'] as const,
});

const CreateStoragePoolInput = builder.inputType('CreateStoragePoolInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    type: t.field({ type: CreateStoragePoolTypeEnum, required: true }),
    path: t.string({ required: false, description: 'DIR: the directory (made if missing).' }),
    vgName: t.string({ required: false, description: 'LOGICAL: the volume group (default: the pool name).' }),
    sourceDevices: t.stringList({
      required: false,
      description:
        'LOGICAL: at most 16 devices to build the volume group on (pvcreate, vgcreate; refused if they hold data). Omitted: the volume group exists already.',
    }),
    autostart: t.boolean({ required: false, defaultValue: false }),
    start: t.boolean({ required: false, defaultValue: false, description: 'Start the pool right after defining it.' }),
  }),
});

builder.mutationField('createStoragePool', (t) =>
  t.field({
    type: StoragePoolRef,
    description: 'Defines a storage pool (admins only); virtplane records it as its own.',
    args: { input: t.arg({ type: CreateStoragePoolInput, required: true }) },
    errors: {
      types: STORAGE_POOL_ERRORS,
      result: { name: 'CreateStoragePoolSuccess' },
      union: { name: 'CreateStoragePoolResult' },
      dataField: { name: 'storagePool' },
    },
    resolve: (_r, { input }, ctx) => ctx.services.storagePools.create(ctx.viewer, input),
  }),
);

type PoolAction = (ctx: Context, uuid: string) => Promise<StoragePoolView>;

const poolAction = (field: string, description: string, run: PoolAction) =>
  builder.mutationField(field, (t) =>
    t.field({
      type: StoragePoolRef,
      description,
      args: { id: t.arg.id({ required: true }) },
      errors: {
        types: STORAGE_POOL_ERRORS,
        result: { name: 'StoragePoolActionSuccess' },
        union: { name: 'StoragePoolActionResult' },
        dataField: { name: 'storagePool' },
      },
      resolve: (_r, args, ctx) => run(ctx, localId(String(args.id), 'StoragePool')),
    }),
  );

poolAction('startStoragePool', 'Starts a defined storage pool (admins only).', (ctx, id) =>
  ctx.services.storagePools.start(ctx.viewer, id),
);
poolAction(
  'stopStoragePool',
  'Stops an active storage pool (admins only); refused (IN_USE) for the guest-disk pool and while an upload writes into it.',
  (ctx, id) => ctx.services.storagePools.stop(ctx.viewer, id),
);
poolAction(
  'deleteStoragePool',
  'Stops and undefines a pool virtplane defined (admins only), removing the directory or volume group it made. Refused with IN_USE while it holds any volume (guest disks, published images, other files), and with INVALID_STATE for pools defined outside virtplane.',
  (ctx, id) => ctx.services.storagePools.delete(ctx.viewer, id),
);
