import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A log destination for startTestServer that keeps every line. */
export function logCapture(): { write(line: string): void; text(): string } {
  const lines: string[] = [];
  return { write: (line) => void lines.push(line), text: () => lines.join('') };
}

/**
 * Fails if any of `secrets` is in a file under `dataDir` (read raw: the database, its WAL, whatever else the
 * server keeps there) or in `logText`. `known` is what the server does record (a domain's name in the database's
 * WAL, a line of the log), to be found there: the scan reads where the secrets would land.
 */
export function assertSecretsNowhere(
  dataDir: string,
  logText: string,
  secrets: Iterable<string>,
  known: { wal: string; log: string },
): void {
  const files = readdirSync(dataDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => ({ where: join(e.parentPath, e.name), bytes: readFileSync(join(e.parentPath, e.name)) }));
  const places = [...files, { where: 'the server log', bytes: Buffer.from(logText) }];
  for (const [where, text] of [
    ['virtplane.sqlite-wal', known.wal],
    ['the server log', known.log],
  ] as const) {
    const place = places.find((p) => p.where.endsWith(where));
    assert.ok(place?.bytes.includes(text), `the scan finds "${text}" in ${where} (files: ${files.map((f) => f.where).join(', ')})`);
  }
  for (const secret of secrets) {
    for (const { where, bytes } of places) assert.equal(bytes.includes(secret), false, `a console password is in ${where}`);
  }
}
