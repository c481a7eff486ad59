import type { DomainEventType, NetworkEventType } from '../libvirt/constants.js';
import type { DomainRecord, NetworkRecord } from '../libvirt/types.js';

/** One libvirt lifecycle change of a domain, with the domain as it was right after it. */
export interface DomainLifecycleEvent {
  seq: number;
  type: DomainEventType;
  detail: string;
  at: Date;
  domain: DomainRecord;
  /** True when the server inferred the change on resync instead of receiving libvirt's signal. */
  synthetic: boolean;
}

export interface NetworkLifecycleEvent {
  seq: number;
  type: NetworkEventType;
  at: Date;
  network: NetworkRecord;
  synthetic: boolean;
}
