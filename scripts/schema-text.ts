import { lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema } from '../src/graphql/schema.js';

/** The text of schema.graphql as the code defines it now. */
export function printSchemaFile(): string {
  return `# Printed from the Pothos schema by \`npm run schema:print\`; do not edit.\n\n${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}
