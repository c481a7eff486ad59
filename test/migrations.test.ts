import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../src/db/index.js';

test('migrations apply to an empty database, and re-opening applies nothing twice', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtplane-migrate-'));
  try {
    const file = join(dir, 'empty.sqlite');
    const journal = JSON.parse(readFileSync(new URL('../migrations/meta/_journal.json', import.meta.url), 'utf8')) as { entries: unknown[] };
    for (let round = 0; round < 2; round++) {
      const db = openDatabase(file);
      try {
        const tables = db.$client
          .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%' ORDER BY name`)
          .all()
          .map((r) => (r as { name: string }).name);
        for (const t of ['api_tokens', 'audit_events', 'domain_owners', 'quotas', 'reservations', 'users']) assert.ok(tables.includes(t), `table ${t}`);
        const applied = db.$client.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number };
        assert.equal(applied.n, journal.entries.length);
        assert.equal(db.$client.pragma('journal_mode', { simple: true }), 'wal');
        // 2 = FULL: each commit is synced before the next step. better-sqlite3's WAL default is NORMAL (1).
        assert.equal(db.$client.pragma('synchronous', { simple: true }), 2);
      } finally {
        db.$client.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
