import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import type { Context } from './context.js';

/** Configures the schema builder; defines no types (each type family has its own file). */
export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({
  plugins: [ErrorsPlugin, RelayPlugin],
  defaultFieldNullability: false,
  // Nodes are told apart by their types' isTypeOf. Pothos would otherwise mark each object a node lookup
  // answers with its type — the services' cached records themselves — and a mutation answering a marked record
  // in its result union then fails (test/unit/node-brand.test.ts).
  relay: { clientMutationId: 'omit', cursorType: 'String', brandLoadedObjects: false },
  errors: { defaultTypes: [] },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** RFC 3339 date-time (`2026-03-07T10:00:00Z`, `2026-03-07T11:00:00.5+01:00`): a date alone or "March 7" is no instant. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

builder.scalarType('DateTime', {
  description: 'An instant, as an RFC 3339 date-time string (output in UTC, e.g. 2026-03-07T10:00:00.000Z).',
  serialize: (d) => d.toISOString(),
  parseValue: (v) => {
    const m = typeof v === 'string' ? RFC3339.exec(v) : null;
    const d = m ? new Date(v as string) : null;
    // Date would roll 2026-02-30 over into March: the day must exist in its month.
    const dayExists = m && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).getUTCDate() === Number(m[3]);
    if (!d || Number.isNaN(d.getTime()) || !dayExists)
      throw new TypeError('DateTime must be an RFC 3339 date-time, e.g. 2026-03-07T10:00:00Z');
    return d;
  },
});
