import type { Viewer } from '../access/index.js';
import type { ConsoleKind } from './tickets.js';

/**
 * Why a console session ended, each with its WebSocket close code (4000–4099: the session was open and
 * ended; 4400–4499 are refusals before it opened, see http/console.ts). The table is in README.md.
 */
export const SESSION_END = {
  TAKEN_OVER: { code: 4001, reason: 'taken over by another viewer' },
  DOMAIN_STOPPED: { code: 4002, reason: 'the domain stopped' },
  DOMAIN_DELETED: { code: 4003, reason: 'the domain was deleted' },
  DOMAIN_ASSIGNED: { code: 4004, reason: 'the domain was assigned to another user' },
  PASSWORD_ROTATED: { code: 4005, reason: 'the console password was rotated' },
  TOKEN_REVOKED: { code: 4006, reason: 'the API token was revoked' },
  CONSOLE_CLOSED: { code: 4007, reason: 'the console connection to the guest closed' },
  SLOW_VIEWER: { code: 4008, reason: 'slow viewer: too much output unsent' },
  SERVER_STOPPING: { code: 1001, reason: 'the server is stopping' },
  VIEWER_CLOSED: { code: 1000, reason: 'closed by the viewer' },
} as const;
export type SessionEnd = keyof typeof SESSION_END;

/** The viewer's end of a session (a WebSocket); the registry only ever closes it. */
export interface ViewerEnd {
  close(code: number, reason: string): void;
}

export interface ConsoleSession {
  viewer: Viewer;
  domainUuid: string;
  kind: ConsoleKind;
  /** The global ID of the domain, as audit rows name their target. */
  auditTarget: string;
  openedAt: Date;
  end: ViewerEnd;
}

export interface SessionAudit {
  record(viewer: Viewer, entry: { action: string; target: string | null; result: string; message?: string | null }): void;
}

/**
 * Open console sessions, at most one per domain and kind. Policy, the same for graphical and serial consoles:
 * a new viewer takes over, and the previous one is closed with 4001 "taken over by another viewer". (Sharing
 * a VNC connection between browsers would need an RFB multiplexer; taking over is also what a physical
 * console does.) Each session is one audit row when it opens and one when it ends, with both times.
 */
export class ConsoleSessions {
  private readonly open = new Map<string, ConsoleSession>();

  constructor(private readonly audit: SessionAudit) {}

  private static key(domainUuid: string, kind: ConsoleKind): string {
    return `${domainUuid}:${kind}`;
  }

  /** Registers a session, taking over from whoever held this console. Returns the function that ends it. */
  start(session: Omit<ConsoleSession, 'openedAt'>): (why: SessionEnd) => void {
    const key = ConsoleSessions.key(session.domainUuid, session.kind);
    const previous = this.open.get(key);
    if (previous) this.finish(previous, 'TAKEN_OVER');
    const s: ConsoleSession = { ...session, openedAt: new Date() };
    this.open.set(key, s);
    this.audit.record(s.viewer, {
      action: 'consoleSessionStart',
      target: s.auditTarget,
      result: 'SUCCESS',
      message: `${s.kind} console opened`,
    });
    return (why) => this.finish(s, why);
  }

  /** A ticket presented and refused: audited under the token that asked for it (never the ticket). */
  refused(grant: { viewer: Viewer; kind: ConsoleKind }, auditTarget: string, result: string): void {
    this.audit.record(grant.viewer, {
      action: 'consoleSessionStart',
      target: auditTarget,
      result,
      message: `${grant.kind} console refused`,
    });
  }

  /** Ends the session (once): closes the viewer's socket with the code and reason, and records it. */
  private finish(s: ConsoleSession, why: SessionEnd): void {
    const key = ConsoleSessions.key(s.domainUuid, s.kind);
    if (this.open.get(key) !== s) return;
    this.open.delete(key);
    const { code, reason } = SESSION_END[why];
    const closedAt = new Date();
    this.audit.record(s.viewer, {
      action: 'consoleSessionEnd',
      target: s.auditTarget,
      result: 'SUCCESS',
      message: `${s.kind} console from ${s.openedAt.toISOString()} to ${closedAt.toISOString()}: ${reason}`,
    });
    s.end.close(code, reason);
  }

  /** Ends every session on a domain (both kinds). */
  endDomain(domainUuid: string, why: SessionEnd): void {
    for (const s of [...this.open.values()]) if (s.domainUuid === domainUuid) this.finish(s, why);
  }

  /** Ends every session opened with one of these API tokens. */
  endTokens(tokenIds: readonly string[], why: SessionEnd = 'TOKEN_REVOKED'): void {
    const ids = new Set(tokenIds);
    for (const s of [...this.open.values()]) if (ids.has(s.viewer.tokenId)) this.finish(s, why);
  }

  endAll(why: SessionEnd = 'SERVER_STOPPING'): void {
    for (const s of [...this.open.values()]) this.finish(s, why);
  }

  count(): number {
    return this.open.size;
  }
}
