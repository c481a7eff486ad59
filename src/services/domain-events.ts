import type { DomainEventType } from '../libvirt/constants.js';
import type { AccessPolicy } from './authorization.js';
import type { EventStream, StreamRequest } from './event-stream.js';
import type { DomainLifecycleEvent } from './events.js';
import type { Viewer } from './viewer.js';

export interface DomainEventFilter {
  domainUuid?: string | null;
  types?: readonly DomainEventType[] | null;
  /** Only events of domains this user owned (admins; for a tenant it can only narrow to nothing). */
  ownerId?: string | null;
}

/** Domain lifecycle events — live, resumed from a cursor, or as history — narrowed to what one viewer may see. */
export class DomainEventService {
  constructor(
    private readonly stream: EventStream,
    private readonly access: AccessPolicy,
  ) {}

  private request(viewer: Viewer, after: number | null, filter: DomainEventFilter): StreamRequest<DomainLifecycleEvent> {
    const types = filter.types?.length ? new Set<string>(filter.types) : null;
    return {
      kind: 'DOMAIN',
      after,
      sql: { subjectUuid: filter.domainUuid, types: filter.types, ownerId: filter.ownerId },
      accept: (e) =>
        this.access.canSeeDomain(viewer, e.domain) &&
        (!filter.domainUuid || e.domain.uuid === filter.domainUuid) &&
        (!types || types.has(e.type)) &&
        (!filter.ownerId || e.ownerId === filter.ownerId),
    };
  }

  subscribe(viewer: Viewer, after: number | null, filter: DomainEventFilter = {}): AsyncIterableIterator<DomainLifecycleEvent> {
    return this.stream.subscribe(this.request(viewer, after, filter));
  }

  history(viewer: Viewer, after: number | null, first: number, filter: DomainEventFilter = {}) {
    return this.stream.history(this.request(viewer, after, filter), first);
  }
}
