import { isPromise } from 'node:util/types';
import { GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import { encodeGlobalID } from './ids.js';
import './errors.js';
import './network.js';
import './domain.js';
import './host.js';
import './events.js';
import './users.js';
import './audit.js';
import { guardSchema } from './guards.js';
import { boundListArguments } from './list-bounds.js';
import { unloadableIdsFindNothing } from './node-lookup.js';
import { nullableRootFields } from './root-nullability.js';
import './image.js';
import './console.js';
import './port-forward.js';
import './storage-pool.js';
import './image-upload.js';
import './usage.js';

let schema: GraphQLSchema | undefined;

/** The whole API; type files register themselves on the builder when imported above. */
export function buildSchema(): GraphQLSchema {
  if (!schema) {
    schema = guardSchema(builder.toSchema({ sortSchema: true }));
    nullableRootFields(schema);
    syncNodeIds(schema);
    unloadableIdsFindNothing(schema);
    boundListArguments(schema); // last, so the bound is checked before any other wrapper does work
  }
  return schema;
}

type IdResolver = (parent: unknown, args: unknown, ctx: unknown, info: unknown) => unknown;

/**
 * Pothos' relay plugin resolves every `id` of a Node through an async wrapper: one promise per object,
 * about half the cost of executing a 1000-domain page (see bench/). Our ids are plain values, so each
 * Node's `id` answers synchronously with the same global ID (a promise-returning id still takes the
 * plugin's path).
 */
function syncNodeIds(s: GraphQLSchema): void {
  for (const type of Object.values(s.getTypeMap())) {
    if (!(type instanceof GraphQLObjectType) || !type.getInterfaces().some((i) => i.name === 'Node')) continue;
    const idOf = (type.extensions.pothosOptions as { id?: { resolve?: IdResolver } } | undefined)?.id?.resolve;
    const field = type.getFields().id;
    const wrapped = field?.resolve;
    if (!idOf || !field || !wrapped) continue;
    const typename = type.name;
    field.resolve = (parent, args, ctx, info) => {
      const id = idOf(parent, args, ctx, info);
      return isPromise(id) ? wrapped(parent, args, ctx, info) : encodeGlobalID(typename, String(id));
    };
  }
}
