import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { printSchemaFile } from '../scripts/schema-text.js';

test('schema.graphql matches the schema the code builds (run `npm run schema:print` after changing types)', () => {
  const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
  assert.equal(committed, printSchemaFile());
});
