import { and, asc, eq, gt, isNull, lte, sql } from 'drizzle-orm';
import type { Db } from '../index.js';
import { apiTokens, users } from '../schema.js';

export type UserRow = typeof users.$inferSelect;
export type ApiTokenRow = Omit<typeof apiTokens.$inferSelect, 'hash'>;

const tokenColumns = {
  id: apiTokens.id,
  userId: apiTokens.userId,
  label: apiTokens.label,
  prefix: apiTokens.prefix,
  createdAt: apiTokens.createdAt,
  revokedAt: apiTokens.revokedAt,
  expiresAt: apiTokens.expiresAt,
  lastUsedAt: apiTokens.lastUsedAt,
};

/** Users and their API tokens (tables/auth.ts). Tokens are found by the hash of their secret only. */
export class AuthStore {
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

  /** The unrevoked token with this hash, with its user. */
  activeTokenByHash(hash: string) {
    return this.byHash.get({ hash });
  }

  touchToken(id: string, at: number): void {
    this.touch.run(at, id);
  }

  tokenValidity(id: string): { revokedAt: Date | null; expiresAt: Date | null } | null {
    return (
      this.db
        .select({ revokedAt: apiTokens.revokedAt, expiresAt: apiTokens.expiresAt })
        .from(apiTokens)
        .where(eq(apiTokens.id, id))
        .get() ?? null
    );
  }

  tokenIdByHash(hash: string): string | null {
    return this.db.select({ id: apiTokens.id }).from(apiTokens).where(eq(apiTokens.hash, hash)).get()?.id ?? null;
  }

  insertToken(row: typeof apiTokens.$inferInsert): void {
    this.db.insert(apiTokens).values(row).run();
  }

  tokensOf(userId: string): ApiTokenRow[] {
    return this.db
      .select(tokenColumns)
      .from(apiTokens)
      .where(eq(apiTokens.userId, userId))
      .orderBy(asc(apiTokens.createdAt), asc(apiTokens.id))
      .all();
  }

  tokenById(id: string): ApiTokenRow | null {
    return this.db.select(tokenColumns).from(apiTokens).where(eq(apiTokens.id, id)).get() ?? null;
  }

  /** Ids of a user's tokens not revoked. */
  liveTokenIdsOf(userId: string): string[] {
    return this.db
      .select({ id: apiTokens.id })
      .from(apiTokens)
      .where(and(eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt)))
      .all()
      .map((t) => t.id);
  }

  revokeToken(id: string, at: Date): void {
    this.db
      .update(apiTokens)
      .set({ revokedAt: at })
      .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
      .run();
  }

  /** The earliest expiry after `after` of a token not revoked, or null. */
  nextExpiryAfter(after: Date): number | null {
    return (
      this.db
        .select({ at: sql<number | null>`min(${apiTokens.expiresAt})` })
        .from(apiTokens)
        .where(and(isNull(apiTokens.revokedAt), gt(apiTokens.expiresAt, after)))
        .get()?.at ?? null
    );
  }

  /** Ids of tokens not revoked that expire after `after`, up to and including `until`. */
  expiringBetween(after: Date, until: Date): string[] {
    return this.db
      .select({ id: apiTokens.id })
      .from(apiTokens)
      .where(and(isNull(apiTokens.revokedAt), gt(apiTokens.expiresAt, after), lte(apiTokens.expiresAt, until)))
      .all()
      .map((t) => t.id);
  }

  users(): UserRow[] {
    return this.db.select().from(users).orderBy(asc(users.name), asc(users.id)).all();
  }

  user(id: string): UserRow | null {
    return this.db.select().from(users).where(eq(users.id, id)).get() ?? null;
  }

  userExists(id: string): boolean {
    return !!this.db.select({ id: users.id }).from(users).where(eq(users.id, id)).get();
  }

  anAdmin(): UserRow | null {
    return this.db.select().from(users).where(eq(users.role, 'ADMIN')).get() ?? null;
  }

  insertUser(user: UserRow): void {
    this.db.insert(users).values(user).run();
  }

  /** Inserts a user unless one has its name (false then). */
  insertUserUnlessNameTaken(user: UserRow): boolean {
    try {
      this.db.insert(users).values(user).run();
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
      throw err;
    }
  }

  /** Deletes a user; its tokens and quota go with it (ON DELETE CASCADE). */
  deleteUser(id: string): void {
    this.db.delete(users).where(eq(users.id, id)).run();
  }
}
