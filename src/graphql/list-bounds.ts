import {
  getNamedType,
  getNullableType,
  GraphQLError,
  isEnumType,
  isInputObjectType,
  isListType,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';

/** The most entries any list argument (or list field of an input) may have. */
export const MAX_LIST_ARGUMENT = 100;

function tooLong(path: string, length: number): GraphQLError {
  return new GraphQLError(`"${path}" may have at most ${MAX_LIST_ARGUMENT} entries, got ${length}`, {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

/** Whether a type holds a list anywhere (itself, or a field of an input object, however deep). */
function holdsList(type: GraphQLInputType, seen = new Set<string>()): boolean {
  if (isListType(getNullableType(type))) return true;
  const named = getNamedType(type);
  if (!isInputObjectType(named) || seen.has(named.name)) return false;
  seen.add(named.name);
  return Object.values(named.getFields()).some((f) => holdsList(f.type, seen));
}

/**
 * Checks one argument value against its type: a list over the bound is refused; a list of enum values is
 * deduplicated (an enum has few values, so repeating them asks for nothing more). Returns the value to use.
 */
function bounded(type: GraphQLInputType, value: unknown, path: string): unknown {
  if (value === null || value === undefined) return value;
  const inner = getNullableType(type);
  if (isListType(inner)) {
    if (!Array.isArray(value)) return value;
    if (value.length > MAX_LIST_ARGUMENT) throw tooLong(path, value.length);
    const itemType = inner.ofType;
    const items = value.map((v, i) => bounded(itemType, v, `${path}[${i}]`));
    return isEnumType(getNullableType(itemType)) ? [...new Set(items)] : items;
  }
  if (isInputObjectType(inner) && typeof value === 'object') {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const field of Object.values(inner.getFields())) {
      if (field.name in out) out[field.name] = bounded(field.type, out[field.name], `${path}.${field.name}`);
    }
    return out;
  }
  return value;
}

function boundArgs(args: readonly GraphQLArgument[], values: Record<string, unknown>): Record<string, unknown> {
  const out = { ...values };
  for (const a of args) if (a.name in out) out[a.name] = bounded(a.type, out[a.name], a.name);
  return out;
}

/**
 * Every list argument of every root field has a bound, checked before its resolver (or subscription) does any
 * work: a request naming 200,000 IDs or 50,000 event types gets BAD_USER_INPUT instead of stalling the server
 * or overflowing SQLite's variable limit. Applied to the built schema, so fields added later obey it too.
 */
export function boundListArguments(schema: GraphQLSchema): void {
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      if (!field.args.some((a) => holdsList(a.type))) continue;
      const { resolve, subscribe } = field;
      // A subscription's resolve runs per event, with the arguments its subscribe already checked.
      if (subscribe)
        field.subscribe = (src, args: Record<string, unknown>, ctx, info) => subscribe(src, boundArgs(field.args, args), ctx, info);
      else if (resolve)
        field.resolve = (src, args: Record<string, unknown>, ctx, info) => resolve(src, boundArgs(field.args, args), ctx, info);
    }
  }
}
