import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';

test('every test file is in one of the four tiers npm run test:only runs (unit, libvirt, server, qemu)', () => {
  const tiers = ['unit', 'libvirt', 'server', 'qemu'];
  const misplaced = readdirSync('test', { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.test.ts'))
    .filter((path) => !tiers.some((tier) => path.startsWith(`${tier}/`)));
  assert.deepEqual(misplaced, [], 'move these into test/unit, test/libvirt, test/server or test/qemu');
});
