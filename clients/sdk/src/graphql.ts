/**
 * The `graphql` tag of this SDK: gql.tada types every document against `schema.graphql` at compile time
 * (through `graphql-env.d.ts`, the schema's introspection that `npm run typecheck` regenerates first).
 * A document that asks for a field or argument the schema does not have, or passes a variable of the wrong
 * type, fails the type check.
 */
import { initGraphQLTada } from 'gql.tada';
import type { introspection } from './graphql-env.js';

export const graphql = initGraphQLTada<{
  introspection: introspection;
  scalars: { DateTime: string; ID: string };
}>();

export type { FragmentOf, ResultOf, VariablesOf, TadaDocumentNode } from 'gql.tada';
export { readFragment } from 'gql.tada';
