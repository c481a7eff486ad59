import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// What `npm run typecheck` runs on clients/: `gql.tada check` (documents against schema.graphql) and `tsc`
// (results and variables as the documents type them). Here on fixtures outside the type-checked tree.
const bin = (name: string) => `node_modules/.bin/${name}`;
const TSC_FLAGS = [
  '--noEmit',
  '--strict',
  '--noUncheckedIndexedAccess',
  '--module',
  'NodeNext',
  '--moduleResolution',
  'NodeNext',
  '--target',
  'ES2022',
  '--lib',
  'ES2023',
  '--skipLibCheck',
  '--types',
  'node',
];

test('a document asking for a field schema.graphql does not have fails the check; one that fits passes', () => {
  const r = spawnSync(bin('gql.tada'), ['check', '-c', 'test/fixtures/sdk-types/tsconfig.json'], { encoding: 'utf8' });
  const out = r.stdout + r.stderr;
  assert.notEqual(r.status, 0, `gql.tada check should fail:\n${out}`);
  assert.match(out, /unknown-field\.ts[\s\S]*Cannot query field "colour" on type "Domain"/);
  assert.doesNotMatch(out, /fits\.ts/, 'the fitting document is not reported');
});

test('variables of the wrong type and fields a document did not select fail tsc; a fitting use compiles', () => {
  const bad = spawnSync(bin('tsc'), [...TSC_FLAGS, 'test/fixtures/sdk-types/wrong-variables.ts'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0, 'tsc should fail');
  assert.match(bad.stdout, /wrong-variables\.ts\(5,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  assert.match(bad.stdout, /wrong-variables\.ts\(6,\d+\): error TS2339: Property 'colour' does not exist/);
  const good = spawnSync(bin('tsc'), [...TSC_FLAGS, 'test/fixtures/sdk-types/fits.ts'], { encoding: 'utf8' });
  assert.equal(good.status, 0, `fits.ts should compile:\n${good.stdout}`);
});

test("the SDK's introspection (graphql-env.d.ts) is the one schema.graphql gives", () => {
  // npm run typecheck regenerates it first; a committed copy that differs would be a stale SDK.
  const dir = mkdtempSync(join(tmpdir(), 'virtplane-tada-'));
  try {
    const out = join(dir, 'graphql-env.d.ts');
    const r = spawnSync(bin('gql.tada'), ['generate', 'output', '-c', 'clients/tsconfig.json', '-o', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      readFileSync(out, 'utf8'),
      readFileSync('clients/sdk/src/graphql-env.d.ts', 'utf8'),
      'run npm run typecheck and commit clients/sdk/src/graphql-env.d.ts',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
