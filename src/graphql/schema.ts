import type { GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './errors.js';
import './network.js';
import './domain.js';
import './host.js';
import './events.js';
import './port-forward.js';

let schema: GraphQLSchema | undefined;

/** The whole API; type files register themselves on the builder when imported above. */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: true });
  return schema;
}
