import { UPLOAD_STATES, type ImageUpload } from '../services/storage/index.js';
import { builder } from './builder.js';
import { ForbiddenError, LimitExceededError, withLibvirt } from './errors.js';
import { encodeGlobalID, localId } from './ids.js';
import { ImageRef } from './image.js';

/** Where an upload's bytes are PUT, relative to the server's address; the HTTP layer serves it. */
export const UPLOAD_PATH = '/uploads/images/';

const ImageUploadStateEnum = builder.enumType('ImageUploadState', {
  description: 'PENDING: waiting for its PUT; RECEIVING: bytes arriving; DONE: published; FAILED: nothing was kept; EXPIRED: never sent.',
  values: UPLOAD_STATES,
});

export const ImageUploadRef = builder.node(builder.objectRef<ImageUpload>('ImageUpload'), {
  description: 'An ISO upload an admin asked for (createImageUpload): PUT the file to `uploadUrl`, follow it here.',
  id: { resolve: (u) => u.id },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'receivedBytes' in v,
  loadOne: (id, ctx) => ctx.services.imageUploads.find(ctx.viewer, id),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The image name it is published under.' }),
    pool: t.exposeString('pool', { description: 'The storage pool the file goes into.' }),
    sizeBytes: t.float({ resolve: (u) => u.sizeBytes }),
    sha256: t.exposeString('sha256', { nullable: true, description: 'The SHA-256 the file must have, when given.' }),
    receivedBytes: t.float({ description: 'Bytes received so far: the progress of the PUT.', resolve: (u) => u.receivedBytes }),
    state: t.field({ type: ImageUploadStateEnum, resolve: (u) => u.state }),
    error: t.exposeString('error', { nullable: true, description: 'Why it FAILED.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'The PUT must start before this.', resolve: (u) => u.expiresAt }),
    uploadUrl: t.string({
      description: `Where to PUT the raw bytes (\`Authorization: Bearer\` of the same admin; Content-Length = sizeBytes), relative to the server's address: ${UPLOAD_PATH}<id>. One use only.`,
      resolve: (u) => `${UPLOAD_PATH}${encodeURIComponent(encodeGlobalID('ImageUpload', u.id))}`,
    }),
    image: t.field({ type: ImageRef, nullable: true, description: 'The published image, once DONE.', resolve: (u) => u.image }),
  }),
});

builder.queryField('imageUpload', (t) =>
  t.field({
    type: ImageUploadRef,
    nullable: true,
    description: 'An upload you asked for, with its progress (admins only; null for anyone else).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => ctx.services.imageUploads.find(ctx.viewer, localId(String(args.id), 'ImageUpload')),
  }),
);

const CreateImageUploadInput = builder.inputType('CreateImageUploadInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Image name; the file becomes <name>.iso in the pool.' }),
    pool: t.string({
      required: false,
      description: 'A dir storage pool (default: the first of VIRTPLANE_IMAGE_POOLS, else VIRTPLANE_STORAGE_POOL).',
    }),
    sizeBytes: t.float({ required: true, description: 'The exact size of the file; at most VIRTPLANE_MAX_UPLOAD_GIB.' }),
    sha256: t.string({ required: false, description: 'The SHA-256 (hex) the file must have; a file that differs is not kept.' }),
  }),
});

builder.mutationField('createImageUpload', (t) =>
  t.field({
    type: ImageUploadRef,
    description: 'Admins: reserves an image name and returns a one-time URL to PUT the ISO to.',
    args: { input: t.arg({ type: CreateImageUploadInput, required: true }) },
    extensions: {
      auditTarget: (_args: unknown, result: unknown) =>
        result && typeof result === 'object' && 'receivedBytes' in result
          ? encodeGlobalID('ImageUpload', String((result as ImageUpload).id))
          : null,
    },
    errors: {
      types: withLibvirt(ForbiddenError, LimitExceededError),
      result: { name: 'CreateImageUploadSuccess' },
      union: { name: 'CreateImageUploadResult' },
      dataField: { name: 'upload' },
    },
    resolve: (_r, { input }, ctx) => ctx.services.imageUploads.create(ctx.viewer, input),
  }),
);
