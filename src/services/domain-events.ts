import type { AccessPolicy } from './authorization.js';
import type { EventHub } from './event-hub.js';
import type { DomainLifecycleEvent } from './events.js';
import type { Viewer } from './viewer.js';

export interface DomainEventFilter {
  domainUuid?: string | null;
}

/** Live domain lifecycle events, narrowed to what one viewer may see. */
export class DomainEventService {
  constructor(
    private readonly hub: EventHub<DomainLifecycleEvent>,
    private readonly access: AccessPolicy,
  ) {}

  subscribe(viewer: Viewer, filter: DomainEventFilter = {}): AsyncIterableIterator<DomainLifecycleEvent> {
    return this.hub.subscribe(
      (e) => (!filter.domainUuid || e.domain.uuid === filter.domainUuid) && this.access.canSeeDomain(viewer, e.domain),
    );
  }
}
