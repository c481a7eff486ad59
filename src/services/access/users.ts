import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Db } from '../../db/index.js';
import { AuthStore } from '../../db/stores/auth.js';
import { TenantStore } from '../../db/stores/tenants.js';
import { transaction } from '../../db/transaction.js';
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

/**
 * Users and their API tokens. Admin-only except reading yourself. Emits `revoked` with the ids of tokens
 * that stopped being valid (revocation, expiry or user deletion), so the transport can close their connections.
 */
export class UserService extends EventEmitter<{ revoked: [tokenIds: string[]] }> {
  private expiryTimer: NodeJS.Timeout | null = null;
  /** Tokens that expired up to here have been announced. */
  private expiredThrough = Date.now();
  private watching = false;
  private readonly store: AuthStore;
  private readonly tenants: TenantStore;

  constructor(
    private readonly db: Db,
    private readonly access: AccessPolicy,
  ) {
    super();
    this.store = new AuthStore(db);
    this.tenants = new TenantStore(db);
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
    const next = this.store.nextExpiryAfter(new Date(this.expiredThrough));
    if (next == null) return;
    this.expiryTimer = setTimeout(() => this.announceExpired(), Math.min(Math.max(0, next - Date.now()), MAX_TIMER_MS));
    this.expiryTimer.unref();
  }

  private announceExpired(): void {
    const now = Date.now();
    const ids = this.store.expiringBetween(new Date(this.expiredThrough), new Date(now));
    this.expiredThrough = now;
    if (ids.length) this.emit('revoked', ids);
    this.scheduleExpiry();
  }

  /** Users in (name, id) order. */
  list(viewer: Viewer): User[] {
    this.access.requireAdmin(viewer);
    return this.store.users();
  }

  /** A user the viewer may see (admins: all, tenants: themselves), or NOT_FOUND. */
  get(viewer: Viewer, id: string): User {
    const user = this.find(viewer, id);
    if (!user) throw new NotFoundError('user', id);
    return user;
  }

  find(viewer: Viewer, id: string): User | null {
    if (!isAdmin(viewer) && id !== viewer.userId) return null;
    return this.store.user(id);
  }

  exists(id: string): boolean {
    return this.store.userExists(id);
  }

  create(viewer: Viewer, input: { name: string; role: Role }): User {
    this.access.requireAdmin(viewer);
    if (!USER_NAME.test(input.name)) throw new ValidationError('name must be 1-63 letters, digits, ".", "_", "@" or "-"', 'name');
    const user: User = { id: randomUUID(), name: input.name, role: input.role, createdAt: new Date() };
    if (!this.store.insertUserUnlessNameTaken(user)) throw new ConflictError(`a user named ${JSON.stringify(input.name)} exists`);
    return user;
  }

  /** Deletes a user and its tokens; refused while it owns (or is creating) domains. */
  delete(viewer: Viewer, id: string): User {
    this.access.requireAdmin(viewer);
    const { user, tokenIds } = transaction(this.db, () => {
      const user = this.store.user(id);
      if (!user) throw new NotFoundError('user', id);
      if (user.id === viewer.userId) throw new InvalidStateError('you cannot delete yourself');
      if (this.tenants.domainsHeldBy(id) > 0) throw new InUseError('the user still owns domains; delete or reassign them first');
      const tokenIds = this.store.liveTokenIdsOf(id);
      this.store.deleteUser(id); // tokens and quota cascade
      return { user, tokenIds };
    });
    if (tokenIds.length) this.emit('revoked', tokenIds);
    return user;
  }

  /** A user's tokens, for admins; a tenant sees none (not even its own). */
  tokens(viewer: Viewer, userId: string): ApiToken[] {
    if (!isAdmin(viewer)) return [];
    return this.store.tokensOf(userId);
  }

  findToken(viewer: Viewer, id: string): ApiToken | null {
    if (!isAdmin(viewer)) return null;
    return this.store.tokenById(id);
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
    const apiToken: ApiToken = {
      id: randomUUID(),
      userId,
      label,
      prefix,
      createdAt: new Date(),
      revokedAt: null,
      expiresAt,
      lastUsedAt: null,
    };
    this.store.insertToken({ ...apiToken, hash });
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
    this.store.revokeToken(id, revokedAt);
    this.emit('revoked', [id]);
    return { ...row, revokedAt };
  }
}
