import { createHash, randomBytes } from 'node:crypto';
import type { Viewer } from '../access/index.js';

export const CONSOLE_KINDS = ['GRAPHICS', 'SERIAL'] as const;
export type ConsoleKind = (typeof CONSOLE_KINDS)[number];

/** What a ticket lets its bearer open: one console of one domain, as the token that asked for it. */
export interface TicketGrant {
  viewer: Viewer;
  domainUuid: string;
  kind: ConsoleKind;
}

/** Why a ticket was refused; each has its own close code (http/console.ts) and README entry. */
export type TicketRefusal = 'MISSING' | 'UNKNOWN' | 'USED' | 'EXPIRED' | 'MISMATCH';

export type Redemption = { ok: true; grant: TicketGrant } | { ok: false; refusal: TicketRefusal; grant: TicketGrant | null };

interface Entry {
  grant: TicketGrant;
  expiresAt: number;
  used: boolean;
}

/** A ticket is redeemable this long after it was issued. */
export const TICKET_TTL_MS = 30_000;
/** Used and expired tickets are remembered this much longer, so a late or second use is told which it was. */
const REMEMBER_MS = 5 * 60_000;
/** Unredeemed tickets one API token may hold at once. */
export const MAX_OPEN_TICKETS_PER_TOKEN = 32;

const hash = (ticket: string) => createHash('sha256').update(ticket).digest('base64url');

/**
 * One-time console tickets: 32 random bytes (base64url), kept only as a SHA-256 in memory (they live seconds;
 * a restart invalidates them all). A ticket is consumed by its first presentation, whatever the outcome: one
 * shown for the wrong domain or kind is burnt too, so a ticket gives exactly one attempt.
 */
export class ConsoleTickets {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs = TICKET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Unredeemed, unexpired tickets of a token (after pruning). */
  openCount(tokenId: string): number {
    this.prune();
    const now = this.now();
    let n = 0;
    for (const e of this.entries.values()) if (!e.used && e.expiresAt > now && e.grant.viewer.tokenId === tokenId) n++;
    return n;
  }

  issue(grant: TicketGrant): { ticket: string; expiresAt: Date } {
    this.prune();
    const ticket = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.entries.set(hash(ticket), { grant, expiresAt, used: false });
    return { ticket, expiresAt: new Date(expiresAt) };
  }

  /** Consumes the ticket; succeeds only for its domain and kind, within its lifetime, the first time. */
  redeem(ticket: string | null, domainUuid: string, kind: string): Redemption {
    const found = this.lookup(ticket);
    if (!found.ok) return found;
    const entry = found.entry;
    entry.used = true;
    if (entry.grant.domainUuid !== domainUuid || entry.grant.kind !== kind) return { ok: false, refusal: 'MISMATCH', grant: entry.grant };
    return { ok: true, grant: entry.grant };
  }

  /** What redeeming would answer, without consuming (for the console page, which redeems nothing). */
  check(ticket: string | null, domainUuid: string, kind: string): Redemption {
    const found = this.lookup(ticket);
    if (!found.ok) return found;
    const { grant } = found.entry;
    if (grant.domainUuid !== domainUuid || grant.kind !== kind) return { ok: false, refusal: 'MISMATCH', grant };
    return { ok: true, grant };
  }

  private lookup(ticket: string | null): { ok: true; entry: Entry } | { ok: false; refusal: TicketRefusal; grant: TicketGrant | null } {
    if (!ticket) return { ok: false, refusal: 'MISSING', grant: null };
    const entry = this.entries.get(hash(ticket));
    if (!entry) return { ok: false, refusal: 'UNKNOWN', grant: null };
    if (entry.used) return { ok: false, refusal: 'USED', grant: entry.grant };
    if (this.now() >= entry.expiresAt) {
      entry.used = true;
      return { ok: false, refusal: 'EXPIRED', grant: entry.grant };
    }
    return { ok: true, entry };
  }

  private prune(): void {
    const now = this.now();
    for (const [key, e] of this.entries) if (now >= e.expiresAt + REMEMBER_MS) this.entries.delete(key);
  }
}
