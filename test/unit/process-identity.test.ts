import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { me, running, startTime } from '../helpers/process-identity.js';

test('test processes are named by PID and start time: a reused PID, an old PID-only name or an exited process is not running', async () => {
  assert.equal(running(me()), true, 'this process');
  const [pid] = me().split(':');
  assert.equal(running(`${pid}:1`), false, 'the same PID started at another time: another process');
  assert.equal(running(`${pid}`), false, 'a PID alone (files from before start times were kept)');
  assert.equal(running(`${pid}:null`), false);

  const child = spawn('sleep', ['30']);
  await once(child, 'spawn');
  const named = `${child.pid}:${startTime(child.pid!)}`;
  assert.equal(running(named), true);
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(running(named), false, 'gone');
});
