import type { Socket } from 'node:net';
import type { LibvirtBus } from '../../libvirt/bus.js';
import type { DomainEventType } from '../../model/index.js';
import type { GraphicsConsoles } from '../../libvirt/graphics.js';
import type { DomainService } from '../domains/index.js';
import { fromLibvirt, InvalidStateError, LimitExceededError, NotFoundError, ServiceError, UnsupportedError } from '../errors.js';
import type { Viewer } from '../access/index.js';
import { ConsoleSessions, SESSION_END, type SessionAudit, type SessionEnd } from './sessions.js';
import { LIFECYCLE_GRACE_MS, SerialLines } from './serial.js';
import { SshTunnelConsoles, type DomainConsole } from './ssh-tunnel.js';
import { consoleUrls } from './urls.js';
import { ConsoleTickets, MAX_OPEN_TICKETS_PER_TOKEN, type ConsoleKind, type TicketGrant, type TicketRefusal } from './tickets.js';

/**
 * WebSocket close codes of a console request refused before a session opened (see SESSION_END for sessions
 * that opened and ended). Every refusal has its own code, so a script can tell which rule refused it.
 */
export const REFUSAL = {
  MISSING: { code: 4400, reason: 'a ticket, a domain and a console kind are required' },
  UNKNOWN: { code: 4401, reason: 'unknown ticket' },
  MISMATCH: { code: 4403, reason: 'the ticket is for another domain or console kind' },
  DOMAIN_NOT_FOUND: { code: 4404, reason: 'domain not found' },
  USED: { code: 4409, reason: 'the ticket was already used' },
  EXPIRED: { code: 4410, reason: 'the ticket expired' },
  TOKEN_REVOKED: { code: 4411, reason: 'the API token that asked for the ticket was revoked' },
  NOT_RUNNING: { code: 4412, reason: 'the domain is not running' },
  NO_CONSOLE: { code: 4415, reason: 'the domain has no console of this kind' },
  UNAVAILABLE: { code: 4503, reason: 'the console cannot be reached right now' },
} as const;
export type Refusal = keyof typeof REFUSAL;

/** The viewer's end of a console: a WebSocket, seen through what the console needs of it. */
export interface ConsoleViewer {
  /** Sends bytes; `sent` runs once they left for the network (flow control). */
  send(data: Buffer, sent: () => void): void;
  /** Bytes queued to the viewer and not yet sent. */
  buffered(): number;
  close(code: number, reason: string): void;
}

/** What the viewer's socket reports to an open console. */
export interface ConsoleLink {
  /** Bytes from the viewer: keys for the serial line, RFB client messages for the graphics socket. */
  input(data: Buffer): void;
  /** The viewer went away. */
  closed(): void;
}

export interface ConsoleRequest {
  ticket: string | null;
  domainUuid: string;
  kind: string;
  /** The domain's global ID, for the audit rows. */
  auditTarget: string;
}

export interface ConsoleTicket {
  ticket: string;
  expiresAt: Date;
  pageUrl: string;
  websocketUrl: string;
}

export interface ConsoleOptions {
  /** Whether `domainConsole` hands out the loopback port, password and SSH command (the guide's path). */
  sshTunnel: boolean;
  /** Where guests' serial sockets are; null: no serial consoles (the test driver). */
  serialSocketDir: string | null;
  /** How long a ticket is redeemable (default TICKET_TTL_MS). */
  ticketTtlMs?: number;
  /** The base URL of this server as browsers reach it (known once it listens). */
  publicUrl: () => string;
}

/** Above this many unsent bytes the guest's graphics socket is paused; below LOW_WATER it reads again. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** A serial viewer this far behind is closed (serial output cannot be paused without stalling the guest). */
const SERIAL_MAX_UNSENT = 4 * 1024 * 1024;

/**
 * Consoles of domains: the SSH-tunnel path (loopback VNC/SPICE with a password), and the browser path —
 * one-time tickets redeemed on a WebSocket that carries the raw RFB stream (from libvirt's OpenGraphicsFD) or
 * the raw serial byte stream (from the guest's serial socket, with the output from before).
 */
export class ConsoleService {
  readonly tickets: ConsoleTickets;
  readonly sessions: ConsoleSessions;
  readonly serial: SerialLines;
  private readonly ssh: SshTunnelConsoles;

  constructor(
    bus: LibvirtBus,
    private readonly domains: DomainService,
    private readonly auth: { isTokenActive(tokenId: string): boolean },
    audit: SessionAudit,
    private readonly graphics: GraphicsConsoles,
    publicHost: string,
    private readonly options: ConsoleOptions,
    onSerialError: (uuid: string, err: Error) => void = () => {},
  ) {
    this.tickets = new ConsoleTickets(options.ticketTtlMs);
    this.sessions = new ConsoleSessions(audit);
    this.serial = new SerialLines(options.serialSocketDir, onSerialError);
    this.ssh = new SshTunnelConsoles(bus, domains, publicHost);
  }

  /** The SSH-tunnel console (UNSUPPORTED when the server switched that path off). */
  get(viewer: Viewer, uuid: string): Promise<DomainConsole> {
    this.domains.get(viewer, uuid);
    if (!this.options.sshTunnel)
      throw new UnsupportedError('the SSH-tunnel console is switched off on this server; use createConsoleTicket');
    return this.ssh.get(viewer, uuid);
  }

  /** A new console password; open console sessions of the domain end (whoever watched knew the old one). */
  async rotatePassword(viewer: Viewer, uuid: string): Promise<DomainConsole> {
    await this.ssh.rotatePassword(viewer, uuid);
    this.sessions.endDomain(uuid, 'PASSWORD_ROTATED');
    return this.ssh.get(viewer, uuid, this.options.sshTunnel);
  }

  /**
   * A one-time ticket for one console of a running domain the viewer may see, with its URLs (`domainId` is
   * the domain's global ID, which the URLs carry).
   */
  createTicket(viewer: Viewer, uuid: string, domainId: string, kind: ConsoleKind): ConsoleTicket {
    const domain = this.domains.get(viewer, uuid);
    if (!domain.active) throw new InvalidStateError('the domain is not running');
    if (kind === 'GRAPHICS' && domain.graphics.length === 0) throw new UnsupportedError('this domain has no graphical console');
    if (kind === 'SERIAL' && !this.serial.has(uuid))
      throw new UnsupportedError('this domain has no serial console socket (domains created before serial sockets, or on the test driver)');
    if (this.tickets.openCount(viewer.tokenId) >= MAX_OPEN_TICKETS_PER_TOKEN) {
      throw new LimitExceededError(
        `at most ${MAX_OPEN_TICKETS_PER_TOKEN} unused console tickets per API token; use or let expire the ones you have`,
      );
    }
    const { ticket, expiresAt } = this.tickets.issue({ viewer, domainUuid: uuid, kind });
    return { ticket, expiresAt, ...consoleUrls(this.options.publicUrl(), domainId, kind, ticket) };
  }

  /**
   * Redeems a ticket and opens the console on `viewer`. Every rule is checked before libvirt is touched: the
   * ticket (once, in time, for this domain and kind), its token still active, the domain still visible to it
   * and running. A refusal is answered as a close code and reason, and audited when the ticket was known.
   */
  async open(
    request: ConsoleRequest,
    viewer: ConsoleViewer,
  ): Promise<{ ok: true; link: ConsoleLink } | { ok: false; code: number; reason: string }> {
    const redemption = this.tickets.redeem(request.ticket, request.domainUuid, request.kind);
    const refuse = (refusal: Refusal, grant: TicketGrant | null, detail?: string) => {
      if (grant) this.sessions.refused(grant, request.auditTarget, `TICKET_${refusal}`);
      const { code, reason } = REFUSAL[refusal];
      return { ok: false as const, code, reason: detail ? `${reason}: ${detail}`.slice(0, 120) : reason };
    };
    if (!redemption.ok) return refuse(redemption.refusal satisfies TicketRefusal, redemption.grant);
    const grant = redemption.grant;
    if (!this.auth.isTokenActive(grant.viewer.tokenId)) return refuse('TOKEN_REVOKED', grant);
    let domain;
    try {
      domain = this.domains.get(grant.viewer, grant.domainUuid);
    } catch (err) {
      if (err instanceof NotFoundError) return refuse('DOMAIN_NOT_FOUND', grant);
      throw err;
    }
    if (!domain.active) return refuse('NOT_RUNNING', grant);

    if (grant.kind === 'SERIAL') {
      if (!(await this.serial.connected(grant.domainUuid))) return refuse('NO_CONSOLE', grant);
      let end: (why: SessionEnd) => void = () => {};
      const attachment = this.serial.attach(
        grant.domainUuid,
        (data) => {
          if (viewer.buffered() > SERIAL_MAX_UNSENT) end('SLOW_VIEWER');
          else viewer.send(data, () => {});
        },
        () => end('CONSOLE_CLOSED'),
      );
      if (!attachment) return refuse('NO_CONSOLE', grant);
      const finish = this.sessions.start({
        ...grant,
        auditTarget: request.auditTarget,
        end: {
          close: (code, reason) => {
            attachment.detach();
            viewer.close(code, reason);
          },
        },
      });
      end = finish;
      if (attachment.history.length) viewer.send(attachment.history, () => {});
      return { ok: true, link: { input: (data) => attachment.write(data), closed: () => end('VIEWER_CLOSED') } };
    }

    let socket: Socket;
    try {
      socket = await this.graphics.open(domain.path);
    } catch (err) {
      const e = fromLibvirt(err, { kind: 'domain', id: grant.domainUuid });
      if (e instanceof NotFoundError) return refuse('DOMAIN_NOT_FOUND', grant);
      if (e instanceof InvalidStateError) return refuse('NOT_RUNNING', grant);
      if (e instanceof UnsupportedError) return refuse('NO_CONSOLE', grant, e.message);
      return refuse('UNAVAILABLE', grant, e instanceof ServiceError ? e.message : undefined);
    }
    // However the session ends (taken over, domain stopped, viewer gone), the guest's socket goes with it.
    const end = this.sessions.start({
      ...grant,
      auditTarget: request.auditTarget,
      end: {
        close: (code, reason) => {
          socket.destroy();
          viewer.close(code, reason);
        },
      },
    });
    let paused = false;
    const sent = () => {
      if (paused && viewer.buffered() < LOW_WATER) {
        paused = false;
        socket.resume();
      }
    };
    socket.on('data', (data: Buffer) => {
      viewer.send(data, sent);
      if (!paused && viewer.buffered() > HIGH_WATER) {
        paused = true;
        socket.pause();
      }
    });
    // The guest's end closes first when QEMU exits; its STOPPED event, a moment later, gives the better reason.
    const dropped = () => setTimeout(() => end('CONSOLE_CLOSED'), LIFECYCLE_GRACE_MS).unref();
    socket.on('error', () => {});
    socket.once('close', dropped);
    return { ok: true, link: { input: (data) => void (!socket.destroyed && socket.write(data)), closed: () => end('VIEWER_CLOSED') } };
  }

  /** Keeps consoles in step with the domain's lifecycle (events from the sync pipeline). */
  domainEvent(type: DomainEventType, uuid: string): void {
    if (type === 'STARTED' || type === 'RESUMED') this.serial.running(uuid);
    else if (type === 'STOPPED') {
      this.sessions.endDomain(uuid, 'DOMAIN_STOPPED');
      this.serial.stopped(uuid);
    } else if (type === 'UNDEFINED') {
      this.sessions.endDomain(uuid, 'DOMAIN_DELETED');
      this.serial.forget(uuid);
    }
  }

  /** The domain changed hands: whoever watched it may no longer. */
  domainAssigned(uuid: string): void {
    this.sessions.endDomain(uuid, 'DOMAIN_ASSIGNED');
  }

  tokensRevoked(tokenIds: readonly string[]): void {
    this.sessions.endTokens(tokenIds, 'TOKEN_REVOKED');
  }

  stop(): void {
    this.sessions.endAll('SERVER_STOPPING');
    this.serial.stop();
  }
}

export { SESSION_END };
