import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

test('`npm start -- --help` offers only ways to start that exist', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin?: Record<string, string>; scripts: Record<string, string> };
  for (const [name, path] of Object.entries(pkg.bin ?? {})) assert.ok(existsSync(path), `package.json bin ${name}: ${path} does not exist`);
  // What `npm start` runs, with the argument `npm start -- --help` passes on.
  // `exec scripts/node`: npm's shell becomes the server itself (scripts/node execs node too), so the signal npm
  // forwards reaches it (process-lifetime.test.ts).
  const [exec, runner, ...args] = pkg.scripts.start!.split(' ');
  assert.deepEqual([exec, runner], ['exec', 'scripts/node'], `npm start should exec scripts/node, not ${pkg.scripts.start}`);
  const help = execFileSync(runner!, [...args, '--help'], { encoding: 'utf8' });
  const usage = help.split('\n').filter((l) => l.startsWith('Usage:'));
  assert.deepEqual(usage, ['Usage: npm start            (npm start -- --help prints this)']);
});

test('`usage` dates: a day is its UTC midnight, a date-time needs its zone, no impossible date rolls over', async () => {
  const { date, usageRange } = await import('../../clients/cli/src/usage.js');
  assert.equal(date('2026-11-01').toISOString(), '2026-11-01T00:00:00.000Z');
  assert.equal(date('2026-11-01T08:00:00+01:00').toISOString(), '2026-11-01T07:00:00.000Z');
  for (const bad of ['2026-02-30', '2026-11-01T10:00', '2026-11-01T24:00:00Z', '1', 'Dec 1 2026', 'yesterday'])
    assert.throws(() => date(bad), /no such date|not a day/, bad);
  const now = new Date('2026-12-03T16:00:00Z');
  const iso = (r: { from: Date; to: Date }) => [r.from.toISOString(), r.to.toISOString()];
  assert.deepEqual(
    iso(usageRange(undefined, undefined, now)),
    ['2026-12-01T00:00:00.000Z', '2026-12-03T16:00:00.000Z'],
    'this month so far',
  );
  assert.deepEqual(
    iso(usageRange(undefined, date('2026-11-01'), now)),
    ['2026-10-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z'],
    'the month --to ends',
  );
  assert.deepEqual(
    iso(usageRange(date('2025-12-15'), undefined, now)),
    ['2025-12-15T00:00:00.000Z', '2026-12-03T16:00:00.000Z'],
    'up to now',
  );
});
