import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../../db/index.js';
import { PortForwardStore, type ForwardRow } from '../../db/stores/network.js';
import { applyRuleset, NftError, type DnatRule, type NftConfig, type Ruleset } from '../../host/nftables.js';
import { type AccessPolicy, isAdmin, type QuotaService, type Viewer } from '../access/index.js';
import { ConflictError, InvalidStateError, NotFoundError, UnsupportedError, ValidationError } from '../errors.js';
import type { IpamService } from './ipam.js';
import type { NetworkService } from './networks.js';
import type { StateCache } from '../sync/index.js';
import { shownName } from '../../model/index.js';

export type Protocol = 'TCP' | 'UDP';

export interface PortForward {
  id: string;
  domainUuid: string;
  protocol: Protocol;
  hostPort: number;
  guestPort: number;
  /** The guest address the rule sends to now (its pinned IPv4), null while it has none. */
  guestIpv4: string | null;
  createdAt: Date;
}

/** Tenants may not forward privileged host ports (below this) nor the API's own port. */
export const FIRST_TENANT_HOST_PORT = 1024;

const isPort = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;

/**
 * NAT port forwards: host port → a guest's pinned IPv4, and the masquerade of virtplane's NAT networks.
 * SQLite is the truth; the nftables table is rewritten from it as a whole at start-up and after every
 * change, one rewrite at a time.
 */
export class PortForwardService {
  private applying: Promise<unknown> = Promise.resolve();
  private readonly store: PortForwardStore;

  constructor(
    db: Db,
    private readonly cache: StateCache,
    private readonly ipam: IpamService,
    private readonly networks: NetworkService,
    private readonly access: AccessPolicy,
    private readonly quotas: QuotaService,
    private readonly nft: NftConfig,
    private readonly log: Logger,
    /** The port the API listens on (known once it listens); tenants may not forward it. */
    private readonly apiPort: () => number | null = () => null,
  ) {
    this.store = new PortForwardStore(db);
  }

  /** Start-up: puts the rules SQLite holds back into the kernel. A host without nft is logged, not fatal. */
  async start(): Promise<void> {
    try {
      await this.apply();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'port forward rules not applied');
    }
  }

  list(viewer: Viewer): PortForward[] {
    return this.store
      .all()
      .filter((r) => this.visible(viewer, r))
      .map((r) => this.view(r))
      .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.hostPort - b.hostPort);
  }

  /** One forward, if `viewer` may see it (its domain's owner, admins); null otherwise, as for an unknown id. */
  find(viewer: Viewer, id: string): PortForward | null {
    const r = this.byId(id);
    return r && this.visible(viewer, r) ? this.view(r) : null;
  }

  async add(viewer: Viewer, input: { domainUuid: string; protocol: Protocol; hostPort: number; guestPort: number }): Promise<PortForward> {
    const domain = this.cache.domains.get(input.domainUuid);
    if (!domain || !this.access.canSeeDomain(viewer, domain)) throw new NotFoundError('domain', input.domainUuid);
    if (!isPort(input.hostPort)) throw new ValidationError('hostPort must be from 1 to 65535', 'hostPort');
    if (!isPort(input.guestPort)) throw new ValidationError('guestPort must be from 1 to 65535', 'guestPort');
    if (!isAdmin(viewer)) {
      if (input.hostPort < FIRST_TENANT_HOST_PORT)
        throw new ValidationError(`hostPort must be ${FIRST_TENANT_HOST_PORT} or above`, 'hostPort');
      if (input.hostPort === this.apiPort()) throw new ValidationError(`hostPort ${input.hostPort} is the API's own port`, 'hostPort');
    }
    if (!this.ipam.primaryIpv4(domain.uuid))
      throw new InvalidStateError(`domain ${shownName(domain)} has no IPv4 address from virtplane to forward to`);
    const id = randomUUID();
    // Quota check and insert in one transaction. Forwards count against the domain's current owner; admins
    // are not held to it (a tenant adding here is that owner).
    this.quotas.transaction((tx) => {
      const owner = this.access.ownerOf(domain);
      if (!isAdmin(viewer) && owner !== null) this.quotas.checkPortForwards(owner, 1, tx);
      const clash = this.store.all().find((r) => r.protocol === input.protocol && r.hostPort === input.hostPort);
      if (clash) throw new ConflictError(`host port ${input.protocol} ${input.hostPort} is already forwarded`);
      this.store.insert({ id, domainUuid: domain.uuid, protocol: input.protocol, hostPort: input.hostPort, guestPort: input.guestPort });
    });
    try {
      await this.apply();
    } catch (err) {
      this.store.delete(id);
      throw this.asServiceError(err);
    }
    return this.view(this.store.byId(id)!);
  }

  async remove(viewer: Viewer, id: string): Promise<PortForward> {
    const r = this.byId(id);
    if (!r || !this.visible(viewer, r)) throw new NotFoundError('port forward', id);
    await this.withoutRules(
      (f) => f.id === id,
      () => this.store.delete(id),
    );
    return this.view(r);
  }

  /**
   * Forgets a deleted domain's forwards and takes its rules out, before its addresses go free: a rule left in
   * the kernel would send the host port to whichever guest gets the address next. So a failed rewrite keeps
   * the forwards and fails (the deletion stays recorded, to be retried). With firewall changes turned off
   * there is nothing of ours to take out.
   */
  async releaseDomain(domainUuid: string): Promise<void> {
    if (!this.store.hasForDomain(domainUuid)) return;
    await this.withoutRules(
      (f) => f.domainUuid === domainUuid,
      () => this.store.deleteForDomain(domainUuid),
      ['DISABLED'],
    );
  }

  /**
   * Takes the rules of the forwards `leaving` picks out of the kernel, then (in the same turn of the rewrite
   * queue) runs `forget`, which drops their rows. Until then their host ports stay taken, so no one else's
   * forward can claim one meanwhile, and a failed rewrite leaves everything as it was.
   */
  private async withoutRules(
    leaving: (f: ForwardRow) => boolean,
    forget: () => unknown,
    tolerated: NftError['kind'][] = [],
  ): Promise<void> {
    const run = this.applying.then(async () => {
      try {
        await applyRuleset(this.nft, this.rules(leaving));
      } catch (err) {
        if (!(err instanceof NftError && tolerated.includes(err.kind))) throw err;
      }
      try {
        forget();
      } catch (err) {
        // The rows stay: their rules go back in with the next rewrite, queued right behind this one.
        void this.apply().catch(() => undefined);
        throw err;
      }
    });
    this.applying = run.catch(() => {});
    await run.catch((err: unknown) => {
      throw this.asServiceError(err);
    });
  }

  /** Rewrites the table from SQLite; rewrites run one after another, each from the state at its turn. */
  apply(): Promise<void> {
    const run = this.applying.then(() => applyRuleset(this.nft, this.rules()));
    this.applying = run.catch(() => {});
    return run;
  }

  /** The table's rules as SQLite holds them, without the forwards `leaving` picks (about to go). */
  private rules(leaving: (f: ForwardRow) => boolean = () => false): Ruleset {
    const dnat: DnatRule[] = [];
    for (const r of this.store.all()) {
      if (leaving(r)) continue;
      const ip = this.ipam.primaryIpv4(r.domainUuid)?.ipv4;
      if (ip) dnat.push({ id: r.id, protocol: r.protocol, hostPort: r.hostPort, guestIpv4: ip, guestPort: r.guestPort });
    }
    dnat.sort((a, b) => a.protocol.localeCompare(b.protocol) || a.hostPort - b.hostPort);
    const masquerade = this.networks.natSubnets().map((n) => ({ id: n.uuid, network: n.network, prefix: n.prefix, bridge: n.bridge }));
    return { dnat, masquerade };
  }

  private byId(id: string): ForwardRow | undefined {
    return this.store.byId(id);
  }

  private visible(viewer: Viewer, r: ForwardRow): boolean {
    if (isAdmin(viewer)) return true;
    const domain = this.cache.domains.get(r.domainUuid);
    return domain ? this.access.canSeeDomain(viewer, domain) : false;
  }

  private view(r: ForwardRow): PortForward {
    return {
      id: r.id,
      domainUuid: r.domainUuid,
      protocol: r.protocol,
      hostPort: r.hostPort,
      guestPort: r.guestPort,
      createdAt: r.createdAt,
      guestIpv4: this.ipam.primaryIpv4(r.domainUuid)?.ipv4 ?? null,
    };
  }

  private asServiceError(err: unknown): Error {
    if (err instanceof NftError) return new UnsupportedError(`port forwarding is unavailable: ${err.message}`);
    return err as Error;
  }
}
