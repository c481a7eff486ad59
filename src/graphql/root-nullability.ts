import { GraphQLNonNull, type GraphQLSchema } from 'graphql';

/**
 * Every root query and mutation field is nullable, so that one field that fails (a tenant asking for
 * `viewer` and the admins' `auditLog`; the second of three mutations) answers null with its error and the
 * others still answer: a non-null root field would blank `data` as a whole, a mutation that ran included.
 * Applied to the built schema, so fields added later are nullable too.
 */
export function nullableRootFields(schema: GraphQLSchema): void {
  for (const root of [schema.getQueryType(), schema.getMutationType()]) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      if (field.type instanceof GraphQLNonNull) field.type = field.type.ofType;
    }
  }
}
