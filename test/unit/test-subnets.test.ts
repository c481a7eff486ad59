import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { overlaps, parseIp, subnetOf } from '../../src/services/network/addresses.js';

/** One test process: takes `n` /29 blocks and one /64, prints them as JSON, and lives until its stdin closes. */
const TAKER = `
import { unusedDocumentationBlock, unusedDocumentationPrefix64 } from './test/helpers/subnets.ts';
const blocks = [];
for (let i = 0; i < Number(process.argv[1]); i++) blocks.push(unusedDocumentationBlock(29) + '/29');
blocks.push(unusedDocumentationPrefix64() + '::/64');
console.log(JSON.stringify(blocks));
// Reservations last as long as their process: it stays until the test has seen every process's blocks.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

function taker(n: number): { blocks: Promise<string[]>; exited: Promise<void>; end(): void } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', TAKER, String(n)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const blocks = new Promise<string[]>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.endsWith('\n')) resolve(JSON.parse(out));
    });
    child.once('exit', (code) => reject(new Error(`taker exited with ${code} before printing`)));
  });
  return { blocks, exited, end: () => child.stdin.end() };
}

test('test processes running at once never get overlapping documentation subnets', async () => {
  // 3 × 20 of the ~90 free /29s: picked at random without the cross-process reservation, two would collide.
  const takers = [taker(20), taker(20), taker(20)];
  let all: string[];
  try {
    all = (await Promise.all(takers.map((t) => t.blocks))).flat();
  } finally {
    for (const t of takers) t.end();
    await Promise.all(takers.map((t) => t.exited));
  }
  assert.equal(all.length, 63, `every process got its blocks: ${all.join(' ')}`);
  const ranges = all.map((cidr) => {
    const [ip, len] = cidr.split('/');
    return { cidr, range: subnetOf(parseIp(ip!)!, Number(len)) };
  });
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      assert.ok(!overlaps(ranges[i]!.range, ranges[j]!.range), `${ranges[i]!.cidr} and ${ranges[j]!.cidr} were both handed out`);
    }
  }
});
