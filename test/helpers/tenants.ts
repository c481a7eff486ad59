import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/index.js';
import { apiTokens, users } from '../../src/db/schema.js';
import { hashToken } from '../../src/services/access/auth.js';

/**
 * Adds a tenant with an API token straight into a test server's database (until the API can create users),
 * and returns its id and token.
 */
export function addTenant(dataDir: string, name: string): { id: string; token: string } {
  const db = openDatabase(join(dataDir, 'virtplane.sqlite'));
  try {
    const id = randomUUID();
    const token = `vp_${randomBytes(32).toString('base64url')}`;
    db.insert(users).values({ id, name, role: 'TENANT' }).run();
    db.insert(apiTokens)
      .values({ id: randomUUID(), userId: id, label: 'test', prefix: token.slice(0, 9), hash: hashToken(token) })
      .run();
    return { id, token };
  } finally {
    db.$client.close();
  }
}

/** Polls `probe` until it returns a value (not a timed assertion: it only waits for an asynchronous effect). */
export async function eventually<T>(probe: () => Promise<T | null | undefined>, what: string, attempts = 200): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = await probe();
    if (v !== null && v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}
