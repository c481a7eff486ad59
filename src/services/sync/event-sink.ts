import type { DomainRecord, NetworkRecord, NewDomainEvent, NewNetworkEvent } from '../../model/index.js';

/** Where the sync pipeline commits events: appended to the log, then published — in that order. */
export interface EventSink {
  domain(event: NewDomainEvent): void;
  network(event: NewNetworkEvent): void;
  /** The whole known state after a (re)load, so a restarted server can diff against it. */
  snapshot(domains: Iterable<DomainRecord>, networks: Iterable<NetworkRecord>): void;
  /**
   * Runs `work` (a group of commits of the line), holding back the events it commits until it is done, then
   * appends them in one transaction and publishes them: still each in the log before it is heard of, and in
   * order. Optional: without it, each event is appended and published as it comes.
   */
  batch?(work: () => void): void;
  /** The state of this host known when the server last ran, or null when it never ran with this host. */
  lastKnown(): { domains: DomainRecord[]; networks: NetworkRecord[] } | null;
}
