import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/index.js';
import { apiTokens, users } from '../../db/schema.js';
import type { Viewer } from './viewer.js';

const TOKEN_PREFIX = 'vp_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** 32 random bytes behind a readable prefix; the first characters double as the token's public label. */
export function generateToken(): { token: string; prefix: string; hash: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, prefix: token.slice(0, TOKEN_PREFIX.length + 6), hash: hashToken(token) };
}

export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/** How stale a token's `lastUsedAt` may get: it is written at most this often, not on every request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export class AuthService {
  /** Every request runs this lookup: prepared once, with the token hash as a placeholder. */
  private readonly byHash;
  private readonly touch;

  constructor(private readonly db: Db) {
    this.byHash = db
      .select({
        tokenId: apiTokens.id,
        hash: apiTokens.hash,
        expiresAt: apiTokens.expiresAt,
        lastUsedAt: apiTokens.lastUsedAt,
        userId: users.id,
        name: users.name,
        role: users.role,
      })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(and(eq(apiTokens.hash, sql.placeholder('hash')), isNull(apiTokens.revokedAt)))
      .prepare();
    this.touch = db.$client.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?');
  }

  /** The viewer a token stands for, or null when it is unknown, revoked or expired. */
  authenticate(token: string | null, now = Date.now()): Viewer | null {
    if (!token) return null;
    const hash = hashToken(token);
    const row = this.byHash.get({ hash });
    if (!row || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return null;
    if (row.expiresAt !== null && row.expiresAt.getTime() <= now) return null;
    if (row.lastUsedAt === null || now - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) this.touch.run(now, row.tokenId);
    return { userId: row.userId, name: row.name, role: row.role, tokenId: row.tokenId };
  }

  /** Whether a token (by id) is still valid: open subscriptions re-check this when tokens are revoked or expire. */
  isTokenActive(tokenId: string, now = Date.now()): boolean {
    const row = this.db.select({ revokedAt: apiTokens.revokedAt, expiresAt: apiTokens.expiresAt }).from(apiTokens).where(eq(apiTokens.id, tokenId)).get();
    return !!row && row.revokedAt === null && (row.expiresAt === null || row.expiresAt.getTime() > now);
  }

  /**
   * Makes sure an admin can get in. With a configured token, that token is (re)registered for the admin
   * user; without one, a token is generated only when no admin exists yet, and returned to print once.
   */
  bootstrapAdmin(configuredToken: string | null): { generatedToken: string | null } {
    return this.db.transaction((tx) => {
      let admin = tx.select().from(users).where(eq(users.role, 'ADMIN')).get();
      if (!admin) {
        admin = { id: randomUUID(), name: 'admin', role: 'ADMIN' as const, createdAt: new Date() };
        tx.insert(users).values(admin).run();
      } else if (!configuredToken) {
        return { generatedToken: null };
      }
      if (configuredToken) {
        const hash = hashToken(configuredToken);
        const existing = tx.select({ id: apiTokens.id }).from(apiTokens).where(eq(apiTokens.hash, hash)).get();
        if (!existing) {
          tx.insert(apiTokens)
            // Its prefix is not a slice of the secret: an operator-chosen token need not be random at all.
            .values({ id: randomUUID(), userId: admin.id, label: 'VIRTPLANE_ADMIN_TOKEN', prefix: 'env', hash })
            .run();
        }
        return { generatedToken: null };
      }
      const { token, prefix, hash } = generateToken();
      tx.insert(apiTokens).values({ id: randomUUID(), userId: admin.id, label: 'bootstrap', prefix, hash }).run();
      return { generatedToken: token };
    });
  }
}
