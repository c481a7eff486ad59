import { decodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLObjectType, type GraphQLSchema } from 'graphql';

/** Whether a global ID names a type that implements Node (and so can be loaded); false for anything malformed. */
function namesNodeType(schema: GraphQLSchema, globalId: unknown): boolean {
  try {
    const type = schema.getType(decodeGlobalID(String(globalId)).typename);
    return type instanceof GraphQLObjectType && type.getInterfaces().some((i) => i.name === 'Node');
  } catch {
    return false;
  }
}

/**
 * `node(id:)` and `nodes(ids:)` answer null for an ID that names nothing loadable — malformed, of an unknown
 * type, of a type that is no Node — exactly as for an unknown or invisible object, as the mutations answer
 * NOT_FOUND for any of them (`localId`). Pothos would fail those with an error that tells them apart.
 */
export function unloadableIdsFindNothing(schema: GraphQLSchema): void {
  const fields = schema.getQueryType()?.getFields() ?? {};
  const node = fields.node;
  const nodeResolve = node?.resolve;
  if (node && nodeResolve) {
    node.resolve = (root, args: { id: unknown }, ctx, info) => (namesNodeType(schema, args.id) ? nodeResolve(root, args, ctx, info) : null);
  }
  const nodes = fields.nodes;
  const nodesResolve = nodes?.resolve;
  if (nodes && nodesResolve) {
    nodes.resolve = async (root, args: { ids: unknown[] }, ctx, info) => {
      const loadable = args.ids.map((id) => namesNodeType(schema, id));
      const found = (await nodesResolve(root, { ...args, ids: args.ids.filter((_, i) => loadable[i]) }, ctx, info)) as unknown[];
      let next = 0;
      return loadable.map((ok) => (ok ? found[next++] : null));
    };
  }
}
