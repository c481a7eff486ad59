import { writeFileSync } from 'node:fs';
import { printSchemaFile } from './schema-text.js';

writeFileSync(new URL('../schema.graphql', import.meta.url), printSchemaFile());
process.stdout.write('schema.graphql written\n');
