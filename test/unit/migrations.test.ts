import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { openDatabase } from '../../src/db/index.js';

test('migrations apply to an empty database, and re-opening applies nothing twice', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtplane-migrate-'));
  try {
    const file = join(dir, 'empty.sqlite');
    const journal = JSON.parse(readFileSync(new URL('../../migrations/meta/_journal.json', import.meta.url), 'utf8')) as {
      entries: unknown[];
    };
    for (let round = 0; round < 2; round++) {
      const db = openDatabase(file);
      try {
        const tables = db.$client
          .prepare(
            `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%' ORDER BY name`,
          )
          .all()
          .map((r) => (r as { name: string }).name);
        for (const t of ['api_tokens', 'audit_events', 'domain_owners', 'quotas', 'reservations', 'users'])
          assert.ok(tables.includes(t), `table ${t}`);
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

/** A database at `file` migrated as it was before `tag`: the same migration files, the journal cut before it. */
function migratedBefore(dir: string, file: string, tag: string): Database.Database {
  const old = join(dir, 'migrations');
  cpSync(fileURLToPath(new URL('../../migrations', import.meta.url)), old, { recursive: true });
  const journalFile = join(old, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { tag: string }[] };
  const upTo = journal.entries.findIndex((e) => e.tag.startsWith(tag));
  writeFileSync(journalFile, JSON.stringify({ ...journal, entries: journal.entries.slice(0, upTo) }));
  const db = new Database(file);
  migrate(drizzle(db), { migrationsFolder: old });
  return db;
}

test('0008 upgrades a database with reservations, addresses, owners and port forwards, keeping every row', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtplane-upgrade-'));
  try {
    const file = join(dir, 'old.sqlite');
    const before = migratedBefore(dir, file, '0008');
    const user = randomUUID();
    const domain = randomUUID();
    before.prepare(`INSERT INTO users (id, name, role) VALUES (?, 'tenant', 'TENANT')`).run(user);
    before
      .prepare(
        `INSERT INTO reservations (domain_uuid, user_id, vcpus, memory_mib, disk_gib, interfaces, state) VALUES (?, ?, 2, 256, 4, 1, 'PENDING')`,
      )
      .run(domain, user);
    before.prepare(`INSERT INTO domain_owners (domain_uuid, user_id, assigned_at) VALUES (?, ?, 1)`).run(domain, user);
    before.prepare(`INSERT INTO mac_leases (mac, domain_uuid) VALUES ('52:54:00:01:02:03', ?)`).run(domain);
    before
      .prepare(
        `INSERT INTO ip_allocations (mac, network_uuid, domain_uuid, ipv4, ipv6, pinned) VALUES ('52:54:00:01:02:03', 'n', ?, '192.0.2.10', '2001:db8::10', 1)`,
      )
      .run(domain);
    before
      .prepare(`INSERT INTO port_forwards (id, domain_uuid, protocol, host_port, guest_port) VALUES ('pf', ?, 'TCP', 2222, 22)`)
      .run(domain);
    before.close();

    const db = openDatabase(file);
    try {
      const one = (sql: string) => db.$client.prepare(sql).get() as Record<string, unknown>;
      assert.deepEqual(
        { ...one(`SELECT domain_uuid, user_id, vcpus, memory_mib, disk_gib, interfaces FROM reservations`) },
        { domain_uuid: domain, user_id: user, vcpus: 2, memory_mib: 256, disk_gib: 4, interfaces: 1 },
      );
      assert.deepEqual(
        { ...one(`SELECT mac, domain_uuid, ipv4, ipv6 FROM ip_allocations`) },
        { mac: '52:54:00:01:02:03', domain_uuid: domain, ipv4: '192.0.2.10', ipv6: '2001:db8::10' },
      );
      assert.equal(one(`SELECT user_id FROM domain_owners`).user_id, user);
      assert.equal(one(`SELECT count(*) AS n FROM mac_leases`).n, 1);
      assert.equal(one(`SELECT host_port FROM port_forwards`).host_port, 2222);
      const columns = (table: string) => (db.$client.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
      assert.ok(
        !columns('reservations').includes('state') && !columns('ip_allocations').includes('pinned'),
        'the dropped columns are gone',
      );
      assert.deepEqual(db.$client.pragma('foreign_key_check'), []);
      assert.equal(db.$client.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.$client.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('0017 puts the events, known objects, reservations and usage periods of an older database on its first host', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtplane-upgrade-'));
  try {
    const file = join(dir, 'old.sqlite');
    const before = migratedBefore(dir, file, '0017');
    const user = randomUUID();
    const domain = randomUUID();
    before.prepare(`INSERT INTO users (id, name, role) VALUES (?, 'tenant', 'TENANT')`).run(user);
    before.prepare(`INSERT INTO hosts (name) VALUES ('hv1')`).run();
    before
      .prepare(`INSERT INTO reservations (domain_uuid, user_id, vcpus, memory_mib, disk_gib, interfaces) VALUES (?, ?, 2, 256, 4, 1)`)
      .run(domain, user);
    before.prepare(`INSERT INTO known_objects (uuid, kind, snapshot) VALUES (?, 'DOMAIN', '{}')`).run(domain);
    before
      .prepare(
        `INSERT INTO events (kind, subject_uuid, subject_name, type, detail, state, at, synthetic, snapshot) VALUES ('DOMAIN', ?, 'web', 'DEFINED', 'ADDED', 'SHUTOFF', 1, 0, '{}')`,
      )
      .run(domain);
    before
      .prepare(
        `INSERT INTO usage_periods (domain_uuid, domain_name, owner_id, running, vcpus, memory_mib, disk_bytes, started_at) VALUES (?, 'web', ?, 0, 2, 256, 0, 1)`,
      )
      .run(domain, user);
    before.close();

    const db = openDatabase(file);
    try {
      const hostOf = (table: string, column = 'domain_uuid') =>
        db.$client.prepare(`SELECT host_id, ${column} AS uuid FROM ${table}`).all() as { host_id: number; uuid: string }[];
      for (const [table, column] of [
        ['reservations', 'domain_uuid'],
        ['known_objects', 'uuid'],
        ['events', 'subject_uuid'],
        ['usage_periods', 'domain_uuid'],
      ] as const)
        assert.deepEqual(
          hostOf(table, column).map((r) => ({ ...r })),
          [{ host_id: 1, uuid: domain }],
          table,
        );
      // The same UUID may now be known on a second host beside the first.
      db.$client.prepare(`INSERT INTO hosts (name) VALUES ('hv2')`).run();
      db.$client.prepare(`INSERT INTO known_objects (host_id, uuid, kind, snapshot) VALUES (2, ?, 'DOMAIN', '{}')`).run(domain);
      assert.equal(hostOf('known_objects', 'uuid').length, 2);
      assert.equal(db.$client.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.$client.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
