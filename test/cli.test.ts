import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

test('`npm start -- --help` offers only ways to start that exist', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin?: Record<string, string>; scripts: Record<string, string> };
  for (const [name, path] of Object.entries(pkg.bin ?? {})) assert.ok(existsSync(path), `package.json bin ${name}: ${path} does not exist`);
  // What `npm start` runs, with the argument `npm start -- --help` passes on.
  const [runner, ...args] = pkg.scripts.start!.split(' ');
  assert.equal(runner, 'scripts/node');
  const help = execFileSync(runner, [...args, '--help'], { encoding: 'utf8' });
  const usage = help.split('\n').filter((l) => l.startsWith('Usage:'));
  assert.deepEqual(usage, ['Usage: npm start            (npm start -- --help prints this)']);
});
