import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const importsOf = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => ({ file: f, from: m[1]! })));

test('services and resolvers never import libvirt XML building or parsing (they hand typed specs to src/libvirt)', () => {
  const offending = [...importsOf('src/services'), ...importsOf('src/graphql')].filter((i) => i.from.includes('libvirt/xml/'));
  assert.deepEqual(offending, []);
});
