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
