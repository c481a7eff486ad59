import type { Logger } from 'pino';
import type { LibvirtBus } from '../../libvirt/bus.js';
import type { LibvirtClient } from '../../libvirt/client.js';
import { type DomainRecord, type NetworkLifecycleEvent, type NetworkRecord, STATE_AFTER_EVENT } from '../../model/index.js';
import { probeDomain } from '../../libvirt/domain.js';
import { LibvirtError } from '../../libvirt/errors.js';
import { readNetwork } from '../../libvirt/network.js';
import { fromLibvirt } from '../errors.js';
import type { EventSink } from './event-sink.js';
import type { Committed } from './changes.js';
import { asRead, type CommitLine, type Read } from './line.js';
import type { Incoming } from './snapshot.js';
import type { StateCache } from './state-cache.js';

const TOMBSTONES = 1024;

/** Whether the last contact with libvirt succeeded, as re-reads and resyncs find; and what a re-read asks when it did not. */
export class SyncHealth {
  private current = false;
  private readonly listeners: ((connected: boolean) => void)[] = [];

  constructor(
    /** libvirt looks away: reload everything once it answers again. */
    readonly resyncSoon: () => void,
  ) {}

  get connected(): boolean {
    return this.current;
  }

  set connected(value: boolean) {
    if (value === this.current) return;
    this.current = value;
    for (const listener of this.listeners) listener(value);
  }

  /** Told each time libvirt goes away or answers again (not on every contact). */
  onChange(listener: (connected: boolean) => void): void {
    this.listeners.push(listener);
  }
}

/**
 * Re-reads of one domain or network, each committed in line: the cache takes the copy read, and the event
 * (if a signal brought one) is published with the state it implies.
 */
export class Rereads {
  private readonly tombstones = new Map<string, DomainRecord>();
  /** The latest re-read of each domain still in flight (undefined when it fails): its disk capacities can be reused. */
  private readonly pendingReads = new Map<string, Promise<DomainRecord | undefined>>();

  private readonly bus: LibvirtBus;

  constructor(
    private readonly libvirt: LibvirtClient,
    private readonly cache: StateCache,
    private readonly events: EventSink,
    private readonly log: Logger,
    private readonly line: CommitLine,
    private readonly health: SyncHealth,
  ) {
    this.bus = libvirt.bus;
  }

  domain(path: string, event: Incoming | null, reuseDiskCapacity = false): Promise<Committed> {
    let result: DomainRecord | undefined;
    // Event re-reads reuse disk capacities already known (events never resize volumes); refreshes read them anew.
    // A re-read of the same domain still in flight is newer than the cache (e.g. DEFINED's, when STARTED arrives).
    // Name and persistence change only with DEFINED and UNDEFINED, autostart with no event at all: other
    // events' re-reads take them from the copy known before (one call fewer).
    const sameProperties = event !== null && event.type !== 'DEFINED' && event.type !== 'UNDEFINED';
    const cached = event || reuseDiskCapacity ? this.cache.domainByPath(path) : undefined;
    const inFlight = event || reuseDiskCapacity ? this.pendingReads.get(path) : undefined;
    // When the read in flight finds the domain gone, what comes next may be another domain by that UUID (a
    // transient one started at once): its properties are then read, not taken from the copy before.
    const known = inFlight ? inFlight.then((r) => r ?? (sameProperties ? undefined : cached)) : cached;
    // An announcement is a caller's refresh: it waits for it, so it goes with the interactive calls.
    const lane = event && !event.synthetic ? 'bulk' : 'interactive';
    const readAll = () => this.libvirt.domains.read(path, lane, known, { sameProperties });
    // After UNDEFINED the domain is usually gone (unless it still runs, now transient): one call tells.
    const reading = event?.type === 'UNDEFINED' ? probeDomain(this.bus, path, lane).then(readAll) : readAll();
    const settled = reading.then(
      (r) => r,
      () => undefined,
    );
    this.pendingReads.set(path, settled);
    void settled.then(() => {
      if (this.pendingReads.get(path) === settled) this.pendingReads.delete(path);
    });
    const read = asRead(reading);
    let failure: LibvirtError | undefined;
    return this.line
      .enqueue(
        read,
        (r) => {
          result = this.commitDomain(path, r, event);
          if ('err' in r && r.err.kind !== 'NOT_FOUND') failure = r.err;
        },
        path,
      )
      .then(() => ({ domain: result, failure }));
  }

  private commitDomain(path: string, read: Read<DomainRecord>, event: Incoming | null): DomainRecord | undefined {
    const previous = this.cache.domainByPath(path) ?? this.tombstones.get(path);
    if ('ok' in read) {
      this.health.connected = true;
      this.tombstones.delete(path);
      this.cache.setDomain(read.ok);
      if (event) this.publish(event, read.ok, event.synthetic === true, previous);
      return read.ok;
    }
    if (read.err.kind === 'NOT_FOUND') {
      // Undefined, or a transient domain that stopped: it can no longer be read, so its last copy speaks for it.
      if (previous) {
        const gone = { ...previous, active: false, state: 'SHUTOFF' as const };
        // Out of the cache before it is announced: a listener asking "does it still exist?" gets the truth.
        this.cache.deleteDomain(previous.uuid);
        this.remember(path, gone);
        // An announcement (synthetic) is of a domain that exists: one found gone announces nothing.
        if (event && !event.synthetic) this.publish(event, gone, false);
      }
      return undefined;
    }
    if (read.err.kind === 'UNAVAILABLE') this.health.connected = false;
    this.log.warn({ path, err: read.err.message }, 'domain re-read failed; resync will correct the cache');
    if (event && !event.synthetic && previous) this.publish(event, previous, false);
    if (!this.health.connected) this.health.resyncSoon();
    return previous;
  }

  private remember(path: string, record: DomainRecord): void {
    this.tombstones.set(path, record);
    if (this.tombstones.size > TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value!);
  }

  /**
   * The event carries the state the domain was in right after it happened, not the state its re-read found
   * later. A definition changes no state: DEFINED keeps the state known before it (SHUTOFF for a new domain,
   * whose re-read may already see a start in progress — PAUSED while QEMU starts — or done).
   */
  publish(event: Incoming, domain: DomainRecord, synthetic: boolean, before?: DomainRecord): void {
    const defined = event.type === 'DEFINED' ? (before?.uuid === domain.uuid ? before.state : 'SHUTOFF') : undefined;
    const state = STATE_AFTER_EVENT[event.type] ?? defined ?? domain.state;
    this.events.domain({
      type: event.type,
      detail: event.detail,
      at: new Date(),
      domain: state === domain.state ? domain : { ...domain, state, active: state !== 'SHUTOFF' },
      synthetic,
    });
  }

  network(path: string, type: NetworkLifecycleEvent['type'] | null): Promise<NetworkRecord | undefined> {
    let result: NetworkRecord | undefined;
    let failure: LibvirtError | undefined;
    const read = asRead(readNetwork(this.bus, path, type ? 'bulk' : 'interactive'));
    return this.line
      .enqueue(
        read,
        (r) => {
          if (!type && 'err' in r && r.err.kind !== 'NOT_FOUND') failure = r.err;
          const previous = this.cache.networkByPath(path);
          let gone = false;
          if ('ok' in r) {
            this.cache.setNetwork(r.ok);
            result = r.ok;
          } else if (r.err.kind === 'NOT_FOUND' && previous) {
            this.cache.deleteNetwork(previous.uuid);
            gone = true;
          }
          const network = result ?? previous;
          // As with domains, the event says what state followed it; the re-read may already see a later one.
          const active = type === 'STARTED' ? true : type === 'STOPPED' ? false : network?.active;
          if (type && network) this.events.network({ type, at: new Date(), network: { ...network, active: active! }, synthetic: false });
          // Gone before this read ran (a stop then an undefine, read late): a persistent network was undefined
          // too, and its own UNDEFINED signal will find nothing left to announce, so it is announced here.
          if (gone && type !== 'UNDEFINED' && previous!.persistent) {
            this.events.network({ type: 'UNDEFINED', at: new Date(), network: { ...previous!, active: false }, synthetic: false });
          }
        },
        path,
      )
      .then(() => {
        if (failure) throw fromLibvirt(failure);
        return result;
      });
  }
}
