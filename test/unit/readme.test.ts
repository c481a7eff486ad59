import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Kind, parse, validate, type DefinitionNode } from 'graphql';
import { buildSchema } from '../../src/graphql/schema.js';

test('every GraphQL example in README.md is valid against the schema (each operation on its own, as a client sends it)', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length > 0, 'the README has GraphQL examples');
  const schema = buildSchema();
  for (const block of blocks) {
    const doc = parse(block);
    const fragments = doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
    for (const op of doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION)) {
      const definitions: DefinitionNode[] = [op, ...fragments];
      const errors = validate(schema, { kind: Kind.DOCUMENT, definitions });
      const text = block.slice(op.loc!.start, op.loc!.end);
      assert.deepEqual(
        errors.map((e) => e.message),
        [],
        text,
      );
    }
  }
});
