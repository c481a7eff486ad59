import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { getNamedType, isUnionType } from 'graphql';
import { printSchemaFile } from '../../scripts/schema-text.js';
import { buildSchema } from '../../src/graphql/schema.js';

test('schema.graphql matches the schema the code builds (run `npm run schema:print` after changing types)', () => {
  const committed = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
  assert.equal(committed, printSchemaFile());
});

test('every mutation that can fail in libvirt answers each libvirt failure as a typed error, not a GraphQL error', () => {
  const schema = buildSchema();
  // What services/errors.ts fromLibvirt maps libvirt's failures to (LibvirtError is LibvirtFailedError's type).
  const fromLibvirt = [
    'NotFoundError',
    'InvalidStateError',
    'ValidationError',
    'ConflictError',
    'UnsupportedError',
    'LibvirtUnavailableError',
    'LibvirtError',
  ];
  const mutations = Object.values(schema.getMutationType()!.getFields());
  let checked = 0;
  for (const m of mutations) {
    const union = getNamedType(m.type);
    if (!isUnionType(union)) continue;
    const members = union.getTypes().map((t) => t.name);
    if (!members.includes('LibvirtError')) continue;
    checked++;
    assert.deepEqual(
      fromLibvirt.filter((e) => !members.includes(e)),
      [],
      `${m.name} returns ${union.name}`,
    );
  }
  assert.ok(checked >= 10, `only ${checked} mutations checked`);
});
