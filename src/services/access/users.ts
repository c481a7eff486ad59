import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { and, asc, eq, gt, isNull, lte, sql } from 'drizzle-orm';
import type { Db } from '../../db/index.js';
import { apiTokens, domainOwners, reservations, users } from '../../db/schema.js';
import { generateToken } from './auth.js';
import type { AccessPolicy } from './authorization.js';
import { ConflictError, InUseError, InvalidStateError, NotFoundError, ValidationError } from '../errors.js';
import { hasHiddenOrControl } from '../text.js';
import { isAdmin, type Role, type Viewer } from './viewer.js';

export interface User {
  id: string;
  name: string;
  role: Role;
  createdAt: Date;
}

export interface ApiToken {
  id: string;
  userId: string;
  label: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
  /** null: never expires. */
  expiresAt: Date | null;
  /** When a request last used it (to the minute: LAST_USED_RESOLUTION_MS); null: never used. */
  lastUsedAt: Date | null;
}

/** The longest a timer may wait (setTimeout's limit); a later expiry is looked at again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$/;
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

/**
 * Users and their API tokens. Admin-only except reading yourself. Emits `revoked` with the ids of tokens
 * that stopped being valid (revocation, expiry or user deletion), so the transport can close their connections.
 */
export class UserService extends EventEmitter<{ revoked: [tokenIds: string[]] }> {
  private expiryTimer: NodeJS.Timeout | null = null;
  /** Tokens that expired up to here have been announced. */
  private expiredThrough = Date.now();
  private watching = false;

  constructor(
    private readonly db: Db,
    private readonly access: AccessPolicy,
  ) {
    super();
  }

  /** Announces each token's expiry when it comes (as `revoked`), so open connections end then, not at their next request. */
  watchExpiry(): void {
    this.watching = true;
    this.scheduleExpiry();
  }

  stopWatchingExpiry(): void {
    this.watching = false;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  private scheduleExpiry(): void {
    if (!this.watching) return;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const next = this.db
      .select({ at: sql<number | null>`min(${apiTokens.expiresAt})` })
      .from(apiTokens)
      .where(and(isNull(apiTokens.revokedAt), gt(apiTokens.expiresAt, new Date(this.expiredThrough))))
      .get()?.at;
    if (next == null) return;
    this.expiryTimer = setTimeout(() => this.announceExpired(), Math.min(Math.max(0, next - Date.now()), MAX_TIMER_MS));
    this.expiryTimer.unref();
  }

  private announceExpired(): void {
    const now = Date.now();
    const ids = this.db
      .select({ id: apiTokens.id })
      .from(apiTokens)
      .where(and(isNull(apiTokens.revokedAt), gt(apiTokens.expiresAt, new Date(this.expiredThrough)), lte(apiTokens.expiresAt, new Date(now))))
      .all()
      .map((t) => t.id);
    this.expiredThrough = now;
    if (ids.length) this.emit('revoked', ids);
    this.scheduleExpiry();
  }

  /** Users in (name, id) order. */
  list(viewer: Viewer): User[] {
    this.access.requireAdmin(viewer);
    return this.db.select().from(users).orderBy(asc(users.name), asc(users.id)).all();
  }

  /** A user the viewer may see (admins: all, tenants: themselves), or NOT_FOUND. */
  get(viewer: Viewer, id: string): User {
    const user = this.find(viewer, id);
    if (!user) throw new NotFoundError('user', id);
    return user;
  }

  find(viewer: Viewer, id: string): User | null {
    if (!isAdmin(viewer) && id !== viewer.userId) return null;
    return this.db.select().from(users).where(eq(users.id, id)).get() ?? null;
  }

  exists(id: string): boolean {
    return !!this.db.select({ id: users.id }).from(users).where(eq(users.id, id)).get();
  }

  create(viewer: Viewer, input: { name: string; role: Role }): User {
    this.access.requireAdmin(viewer);
    if (!USER_NAME.test(input.name)) throw new ValidationError('name must be 1-63 letters, digits, ".", "_", "@" or "-"', 'name');
    const user: User = { id: randomUUID(), name: input.name, role: input.role, createdAt: new Date() };
    try {
      this.db.insert(users).values(user).run();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new ConflictError(`a user named ${JSON.stringify(input.name)} exists`);
      throw err;
    }
    return user;
  }

  /** Deletes a user and its tokens; refused while it owns (or is creating) domains. */
  delete(viewer: Viewer, id: string): User {
    this.access.requireAdmin(viewer);
    const { user, tokenIds } = this.db.transaction(
      (tx) => {
        const user = tx.select().from(users).where(eq(users.id, id)).get();
        if (!user) throw new NotFoundError('user', id);
        if (user.id === viewer.userId) throw new InvalidStateError('you cannot delete yourself');
        const owned =
          tx.select({ n: sql<number>`count(*)` }).from(domainOwners).where(eq(domainOwners.userId, id)).get()!.n +
          tx.select({ n: sql<number>`count(*)` }).from(reservations).where(eq(reservations.userId, id)).get()!.n;
        if (owned > 0) throw new InUseError('the user still owns domains; delete or reassign them first');
        const tokenIds = tx
          .select({ id: apiTokens.id })
          .from(apiTokens)
          .where(and(eq(apiTokens.userId, id), isNull(apiTokens.revokedAt)))
          .all()
          .map((t) => t.id);
        tx.delete(users).where(eq(users.id, id)).run(); // tokens and quota cascade
        return { user, tokenIds };
      },
      { behavior: 'immediate' },
    );
    if (tokenIds.length) this.emit('revoked', tokenIds);
    return user;
  }

  /** A user's tokens, for admins; a tenant sees none (not even its own). */
  tokens(viewer: Viewer, userId: string): ApiToken[] {
    if (!isAdmin(viewer)) return [];
    return this.db.select(tokenColumns).from(apiTokens).where(eq(apiTokens.userId, userId)).orderBy(asc(apiTokens.createdAt), asc(apiTokens.id)).all();
  }

  findToken(viewer: Viewer, id: string): ApiToken | null {
    if (!isAdmin(viewer)) return null;
    return this.db.select(tokenColumns).from(apiTokens).where(eq(apiTokens.id, id)).get() ?? null;
  }

  /** A new token for a user, valid until `expiresAt` (null: for good); the secret is returned only here (only its hash is stored). */
  createToken(viewer: Viewer, userId: string, label: string, expiresAt: Date | null = null): { token: string; apiToken: ApiToken } {
    this.access.requireAdmin(viewer);
    // Admins read labels in lists and logs: no control or bidi characters that would make one pass for another.
    if (label.length < 1 || label.length > 100 || hasHiddenOrControl(label)) {
      throw new ValidationError('label must be 1-100 characters, without control or invisible formatting characters', 'label');
    }
    if (expiresAt !== null && expiresAt.getTime() <= Date.now()) throw new ValidationError('expiresAt must be in the future', 'expiresAt');
    this.get(viewer, userId);
    const { token, prefix, hash } = generateToken();
    const apiToken: ApiToken = { id: randomUUID(), userId, label, prefix, createdAt: new Date(), revokedAt: null, expiresAt, lastUsedAt: null };
    this.db.insert(apiTokens).values({ ...apiToken, hash }).run();
    if (expiresAt !== null) this.scheduleExpiry();
    return { token, apiToken };
  }

  /** Revokes a token: the next request with it is refused, and its open connections are closed. */
  revokeToken(viewer: Viewer, id: string): ApiToken {
    this.access.requireAdmin(viewer);
    const row = this.findToken(viewer, id);
    if (!row) throw new NotFoundError('apiToken', id);
    if (row.revokedAt) return row;
    const revokedAt = new Date();
    this.db.update(apiTokens).set({ revokedAt }).where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt))).run();
    this.emit('revoked', [id]);
    return { ...row, revokedAt };
  }
}

