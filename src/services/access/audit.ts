import type { Db } from '../../db/index.js';
import { AuditStore, type AuditRow } from '../../db/stores/audit.js';
import type { AccessPolicy } from './authorization.js';
import type { StorageHealth } from '../instance/index.js';
import type { Viewer } from './viewer.js';

export interface AuditEvent {
  id: number;
  at: Date;
  actorId: string;
  actorName: string;
  tokenId: string | null;
  action: string;
  target: string | null;
  /** SUCCESS, or the error code the caller got. */
  result: string;
  message: string | null;
}

/** Where failed mutations are logged (pino's shape). */
export interface AuditLog {
  info(fields: object, msg: string): void;
}

export interface AuditFilter {
  /** '' (an ID of another type) matches nothing. */
  actorId?: string | null;
  action?: string | null;
  target?: string | null;
  result?: string | null;
  since?: Date | null;
  until?: Date | null;
}

export interface AuditPage {
  events: AuditEvent[];
  hasNextPage: boolean;
  totalCount: number;
}

/**
 * The trail of every mutation: who (user and token id), what (the mutation), on which target, with which
 * result, when. Arguments and results are never stored, so neither tokens nor passwords can end up here.
 */
export class AuditService {
  private readonly store: AuditStore;

  /** Rows the database could not take (storage failing), written in order once it can. */
  private readonly held: Omit<AuditRow, 'id'>[] = [];

  constructor(
    db: Db,
    private readonly access: AccessPolicy,
    private readonly storage?: StorageHealth,
    private readonly log: AuditLog | null = null,
  ) {
    this.store = new AuditStore(db);
    storage?.onRetry(() => this.flush());
  }

  /**
   * Appends the row; a failed mutation is logged too (at info: the caller got a typed error, an operator may
   * still want to know why), with the same fields the row keeps — never the mutation's arguments.
   */
  record(viewer: Viewer, entry: { action: string; target: string | null; result: string; message?: string | null }): void {
    if (entry.result !== 'SUCCESS') {
      this.log?.info(
        { action: entry.action, target: entry.target, actor: viewer.name, result: entry.result, cause: entry.message ?? null },
        'mutation failed',
      );
    }
    this.held.push({
      at: new Date(),
      actorId: viewer.userId,
      actorName: viewer.name,
      tokenId: viewer.tokenId,
      action: entry.action,
      target: entry.target,
      result: entry.result,
      message: entry.message?.slice(0, 500) ?? null,
    });
    this.flush();
  }

  /** Writes held rows in order; stops (keeping the rest) at the first the storage refuses. True when none is left. */
  private flush(): boolean {
    while (this.held.length) {
      try {
        this.store.append(this.held[0]!);
      } catch (err) {
        if (this.storage?.noteFailure(err)) return false;
        this.held.shift();
        throw err;
      }
      this.held.shift();
    }
    return true;
  }

  /** Newest first; `afterId` continues below the last id of the previous page. */
  list(viewer: Viewer, first: number, afterId: number | null, filter: AuditFilter = {}): AuditPage {
    this.access.requireAdmin(viewer);
    const { rows, totalCount } = this.store.page(filter, afterId, first + 1);
    return { events: rows.slice(0, first), hasNextPage: rows.length > first, totalCount };
  }
}
