import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingBuffer } from '../../src/services/console/serial.js';

test('the serial ring buffer keeps exactly the last bytes written, across wrap-arounds and oversized writes', () => {
  const ring = new RingBuffer(10);
  let all = '';
  const write = (s: string) => {
    ring.write(Buffer.from(s));
    all += s;
    assert.equal(ring.contents().toString(), all.slice(-10), `after writing ${JSON.stringify(s)}`);
  };
  assert.equal(ring.contents().length, 0, 'empty at first');
  write('abc');
  write('defgh');
  write('ijk'); // wraps
  write('l');
  write('mnopqrstu'); // wraps again, nearly a whole buffer
  write('0123456789'); // exactly the capacity
  write('a much longer write than the buffer holds');
  for (let i = 0; i < 50; i++) write(String.fromCharCode(65 + (i % 26)).repeat(i % 7));
});
