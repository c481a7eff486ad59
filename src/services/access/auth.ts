import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/index.js';
import { AuthStore } from '../../db/stores/auth.js';
import { transaction } from '../../db/transaction.js';
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
  private readonly store: AuthStore;

  constructor(private readonly db: Db) {
    this.store = new AuthStore(db);
  }

  /** The viewer a token stands for, or null when it is unknown, revoked or expired. */
  authenticate(token: string | null, now = Date.now()): Viewer | null {
    if (!token) return null;
    const hash = hashToken(token);
    const row = this.store.activeTokenByHash(hash);
    if (!row || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return null;
    if (row.expiresAt !== null && row.expiresAt.getTime() <= now) return null;
    if (row.lastUsedAt === null || now - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) this.store.touchToken(row.tokenId, now);
    return { userId: row.userId, name: row.name, role: row.role, tokenId: row.tokenId };
  }

  /** Whether a token (by id) is still valid: open subscriptions re-check this when tokens are revoked or expire. */
  isTokenActive(tokenId: string, now = Date.now()): boolean {
    const row = this.store.tokenValidity(tokenId);
    return !!row && row.revokedAt === null && (row.expiresAt === null || row.expiresAt.getTime() > now);
  }

  /**
   * Makes sure an admin can get in. With a configured token, that token is (re)registered for the admin
   * user; without one, a token is generated only when no admin exists yet, and returned to print once.
   */
  bootstrapAdmin(configuredToken: string | null): { generatedToken: string | null } {
    return transaction(this.db, () => {
      let admin = this.store.anAdmin();
      if (!admin) {
        admin = { id: randomUUID(), name: 'admin', role: 'ADMIN' as const, createdAt: new Date() };
        this.store.insertUser(admin);
      } else if (!configuredToken) {
        return { generatedToken: null };
      }
      if (configuredToken) {
        const hash = hashToken(configuredToken);
        if (this.store.tokenIdByHash(hash) === null) {
          // Its prefix is not a slice of the secret: an operator-chosen token need not be random at all.
          this.store.insertToken({ id: randomUUID(), userId: admin.id, label: 'VIRTPLANE_ADMIN_TOKEN', prefix: 'env', hash });
        }
        return { generatedToken: null };
      }
      const { token, prefix, hash } = generateToken();
      this.store.insertToken({ id: randomUUID(), userId: admin.id, label: 'bootstrap', prefix, hash });
      return { generatedToken: token };
    });
  }
}
