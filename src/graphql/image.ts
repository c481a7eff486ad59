import type { ImageView } from '../services/storage/index.js';
import { builder } from './builder.js';
import { connectionFromSorted, countedConnection } from './connection.js';
import { DomainDiskRef, DomainRef } from './domain.js';
import { DOMAIN_ACTION_ERRORS, ForbiddenError, NotFoundError, StorageUnavailableError, ValidationError, withLibvirt } from './errors.js';
import { localDomain } from './ids.js';

export const ImageRef = builder.objectRef<ImageView>('Image').implement({
  description: 'Install media (an ISO in an image pool) that an admin published; pick one by name.',
  fields: (t) => ({
    name: t.exposeString('name'),
    sizeBytes: t.float({ resolve: (i) => i.sizeBytes }),
    sha256: t.exposeString('sha256', { nullable: true, description: 'SHA-256 of the file (hex), when it was uploaded through the API.' }),
    path: t.exposeString('path', { nullable: true, description: 'Host path of the ISO; only admins see it.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (i) => i.createdAt }),
  }),
});

builder.objectField(DomainDiskRef, 'image', (t) =>
  t.field({
    type: ImageRef,
    nullable: true,
    description: 'The install image in this CD-ROM drive, when it holds one that is published (`images`).',
    resolve: (d, _args, ctx) => ctx.services.images.inDrive(ctx.viewer, d),
  }),
);

builder.queryField('images', (t) =>
  t.connection(
    {
      type: ImageRef,
      description: 'Install images, ordered by name.',
      resolve: (_root, args, ctx) => connectionFromSorted(ctx.services.images.list(ctx.viewer), args, (i) => [i.name]),
    },
    countedConnection('ImageConnection'),
    { name: 'ImageEdge' },
  ),
);

builder.mutationField('addImage', (t) =>
  t.field({
    type: ImageRef,
    description: 'Publishes an ISO that is a volume in an image pool (admins only).',
    args: { name: t.arg.string({ required: true }), path: t.arg.string({ required: true }) },
    errors: {
      types: withLibvirt(ForbiddenError),
      result: { name: 'AddImageSuccess' },
      union: { name: 'AddImageResult' },
      dataField: { name: 'image' },
    },
    resolve: (_root, args, ctx) => ctx.services.images.add(ctx.viewer, args.name, args.path),
  }),
);

builder.mutationField('removeImage', (t) =>
  t.field({
    type: ImageRef,
    description: 'Withdraws an image from the list (admins only); the file stays where it is.',
    args: { name: t.arg.string({ required: true }) },
    errors: {
      types: [NotFoundError, ForbiddenError, StorageUnavailableError],
      result: { name: 'RemoveImageSuccess' },
      union: { name: 'RemoveImageResult' },
      dataField: { name: 'image' },
    },
    resolve: (_root, args, ctx) => ctx.services.images.remove(ctx.viewer, args.name),
  }),
);

builder.mutationField('insertMedia', (t) =>
  t.field({
    type: DomainRef,
    description: "Puts an install image into the domain's CD-ROM drive (live if it runs, and in its definition).",
    args: { id: t.arg.id({ required: true }), image: t.arg.string({ required: true, description: 'Image name.' }) },
    errors: {
      types: [...DOMAIN_ACTION_ERRORS, ValidationError],
      result: { name: 'InsertMediaSuccess' },
      union: { name: 'InsertMediaResult' },
      dataField: { name: 'domain' },
    },
    resolve: (_root, args, ctx) => ctx.services.media.insert(ctx.viewer, localDomain(ctx, args.id), args.image),
  }),
);

builder.mutationField('ejectMedia', (t) =>
  t.field({
    type: DomainRef,
    description: "Empties the domain's CD-ROM drive (live if it runs, and in its definition).",
    args: { id: t.arg.id({ required: true }) },
    errors: {
      types: [...DOMAIN_ACTION_ERRORS, ValidationError],
      result: { name: 'EjectMediaSuccess' },
      union: { name: 'EjectMediaResult' },
      dataField: { name: 'domain' },
    },
    resolve: (_root, args, ctx) => ctx.services.media.eject(ctx.viewer, localDomain(ctx, args.id)),
  }),
);
