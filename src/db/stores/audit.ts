import { and, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../index.js';
import { auditEvents } from '../schema.js';

export type AuditRow = typeof auditEvents.$inferSelect;

export interface AuditRowFilter {
  actorId?: string | null;
  action?: string | null;
  target?: string | null;
  result?: string | null;
  since?: Date | null;
  until?: Date | null;
}

/** The audit trail (audit_events). */
export class AuditStore {
  /** Every mutation appends one row: the insert is prepared once, with placeholders. */
  private readonly insert;

  constructor(private readonly db: Db) {
    const p = (name: string) => sql.placeholder(name);
    this.insert = db
      .insert(auditEvents)
      .values({
        at: p('at'),
        actorId: p('actorId'),
        actorName: p('actorName'),
        tokenId: p('tokenId'),
        action: p('action'),
        target: p('target'),
        result: p('result'),
        message: p('message'),
      })
      .prepare();
  }

  append(row: Omit<AuditRow, 'id'>): void {
    this.insert.run(row);
  }

  /** Newest first, at most `limit` rows below `beforeId` (when given), and how many match the filter in all. */
  page(filter: AuditRowFilter, beforeId: number | null, limit: number): { rows: AuditRow[]; totalCount: number } {
    const where: SQL[] = [];
    if (filter.actorId != null) where.push(eq(auditEvents.actorId, filter.actorId));
    if (filter.action) where.push(eq(auditEvents.action, filter.action));
    if (filter.target) where.push(eq(auditEvents.target, filter.target));
    if (filter.result) where.push(eq(auditEvents.result, filter.result));
    if (filter.since) where.push(gte(auditEvents.at, filter.since));
    if (filter.until) where.push(lte(auditEvents.at, filter.until));
    const totalCount = this.db
      .select({ n: sql<number>`count(*)` })
      .from(auditEvents)
      .where(and(...where))
      .get()!.n;
    if (beforeId !== null) where.push(lt(auditEvents.id, beforeId));
    const rows = this.db
      .select()
      .from(auditEvents)
      .where(and(...where))
      .orderBy(desc(auditEvents.id))
      .limit(limit)
      .all();
    return { rows, totalCount };
  }
}
