import type { Logger } from 'pino';
import type { DomainState } from '../../model/index.js';
import { LibvirtError } from '../../libvirt/errors.js';
import type { StateCache } from './state-cache.js';

/** How long a difference the check finds must last before it counts as unannounced (signals may be on their way). */
const CONFIRM_MS = 3_000;

export interface StateCheckHooks {
  /** Every domain's state by name, in one call (GetAllDomainStats). */
  readStates(): Promise<Map<string, DomainState>>;
  /** Resolves once everything in the commit line has committed. */
  drained(): Promise<unknown>;
  /** Whether a check would be pointless now (stopped, or a resync already scheduled). */
  idle(): boolean;
  /** A difference lasted: a change went unannounced. */
  unannounced(differences: string[]): void;
  /** The check's call failed with libvirt unavailable. */
  unavailable(): void;
}

/**
 * The periodic cheap check: one call for every domain's state. A difference from the cache (once everything
 * in line has committed) that is still there CONFIRM_MS later means a change went unannounced — e.g. libvirtd
 * restarted behind libvirt-dbus — so everything is reloaded; a failed call marks libvirt unavailable and retries the reload with backoff.
 */
export class StateCheck {
  private confirmTimer: NodeJS.Timeout | null = null;
  /** A difference the check saw, and since when: resynced only if it lasts. */
  private suspect: { key: string; since: number } | null = null;

  constructor(
    private readonly cache: StateCache,
    private readonly hooks: StateCheckHooks,
    private readonly log: Logger,
  ) {}

  async check(): Promise<void> {
    if (this.hooks.idle()) return;
    try {
      const states = await this.hooks.readStates();
      await this.hooks.drained();
      const cachedNames = new Set<string>();
      const differences: string[] = [];
      for (const d of this.cache.domains.values()) {
        cachedNames.add(d.name);
        if (states.get(d.name) !== d.state) differences.push(`${d.name}:${states.get(d.name) ?? 'gone'}`);
      }
      for (const [name, state] of states) if (!cachedNames.has(name)) differences.push(`${name}:${state}:new`);
      if (differences.length === 0) {
        this.suspect = null;
        return;
      }
      // A change in progress (e.g. a domain PAUSED while it starts) is announced by its signal a moment later:
      // only the same difference seen again after CONFIRM_MS is one no signal will announce.
      const key = differences.sort().join('\n');
      if (this.suspect?.key === key && Date.now() - this.suspect.since >= CONFIRM_MS) {
        this.suspect = null;
        this.log.warn({ differences }, 'state check found changes no signal announced; resyncing');
        this.hooks.unannounced(differences);
      } else if (this.suspect?.key !== key) {
        this.suspect = { key, since: Date.now() };
        if (this.confirmTimer) clearTimeout(this.confirmTimer);
        this.confirmTimer = setTimeout(() => void this.check(), CONFIRM_MS);
        this.confirmTimer.unref();
      }
    } catch (err) {
      if (err instanceof LibvirtError && err.kind === 'UNAVAILABLE') this.hooks.unavailable();
    }
  }

  stop(): void {
    if (this.confirmTimer) clearTimeout(this.confirmTimer);
  }
}
