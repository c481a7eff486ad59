import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDatabase } from '../../src/db/index.js';
import { users } from '../../src/db/schema.js';
import { HostObjects, LEGACY_NAMES } from '../../src/services/instance/instance.js';

/** Host-wide names (storage pool, nftables table, nwfilters) are this installation's own, and kept. */
const dir = mkdtempSync(join(tmpdir(), 'virtplane-names-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const namesOf = (file: string) => {
  const db = openDatabase(join(dir, file));
  try {
    return new HostObjects(db).names();
  } finally {
    db.$client.close();
  }
};

test('a new installation names its host-wide objects after its own instance id, and keeps the names', () => {
  const first = namesOf('a.sqlite');
  assert.match(first.instanceId, /^[0-9a-f]{8}$/, 'an instance id');
  assert.deepEqual(
    [first.storagePool, first.nftTable, first.nwfilterPrefix],
    [`virtplane-${first.instanceId}`, `virtplane_${first.instanceId}`, `virtplane-${first.instanceId}-`],
  );
  assert.deepEqual(namesOf('a.sqlite'), first, 'the same names on every start');
  const second = namesOf('b.sqlite');
  assert.notEqual(second.storagePool, first.storagePool, 'a second installation (another data dir) shares no names with the first');
  assert.notEqual(second.nftTable, first.nftTable, 'nor its nftables table');
  assert.notEqual(second.nwfilterPrefix, first.nwfilterPrefix, 'nor its nwfilters');
});

test('an installation from before instance ids keeps the names its pool, table and filters already have', () => {
  const db = openDatabase(join(dir, 'old.sqlite'));
  try {
    // What every earlier start left: the admin user (bootstrapAdmin), and no names recorded.
    db.insert(users).values({ id: 'u1', name: 'admin', role: 'ADMIN' }).run();
    const names = new HostObjects(db).names();
    assert.deepEqual({ storagePool: names.storagePool, nftTable: names.nftTable, nwfilterPrefix: names.nwfilterPrefix }, LEGACY_NAMES);
  } finally {
    db.$client.close();
  }
});
