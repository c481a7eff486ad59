import type { DomainEventType, DomainLifecycleEvent, DomainRecord } from '../../model/index.js';
import type { AccessPolicy, Viewer } from '../access/index.js';
import { NotFoundError } from '../errors.js';
import type { EventStream, StreamRequest } from './stream.js';

export interface DomainEventFilter {
  /** '' (an ID of another type, or garbage) matches nothing. */
  domainUuid?: string | null;
  /** With `domainUuid`: the domain's host (a UUID names a domain only with its host). */
  hostId?: number | null;
  types?: readonly DomainEventType[] | null;
  /** Only events of domains this user owned when they happened (admins; for a tenant, another user narrows to nothing). */
  ownerId?: string | null;
}

/** Domain lifecycle events — live, resumed from a cursor, or as history — narrowed to what one viewer may see. */
export class DomainEventService {
  constructor(
    private readonly stream: EventStream,
    private readonly access: AccessPolicy,
    /** A domain as its host's cache has it now. */
    private readonly domainOn: (hostId: number, uuid: string) => DomainRecord | undefined,
  ) {}

  /**
   * Visibility goes by the owner each event was recorded with, in SQL (history, replay) and live alike. The SQL
   * filter is the whole filter (`accept` repeats it for live events), so counting its rows counts what the
   * viewer is shown.
   */
  private request(viewer: Viewer, after: number | null, filter: DomainEventFilter): StreamRequest<DomainLifecycleEvent> {
    const types = filter.types?.length ? new Set<string>(filter.types) : null;
    const owner = this.access.eventOwnerScope(viewer, filter.ownerId);
    return {
      kind: 'DOMAIN',
      after,
      sql: { subjectUuid: filter.domainUuid, hostId: filter.hostId, types: filter.types, ownerId: owner },
      accept: (e) =>
        (owner === null || e.ownerId === owner) &&
        (filter.domainUuid == null || e.domain.uuid === filter.domainUuid) &&
        (filter.hostId == null || e.hostId === filter.hostId) &&
        (!types || types.has(e.type)),
    };
  }

  /**
   * Live (no `after`) for one domain: the domain must exist and be the viewer's, NOT_FOUND otherwise (the same
   * answer for a missing and a foreign one). A resumed stream may name a domain that is gone since, or was
   * the viewer's only before: each event is shown by the owner it was recorded with either way.
   */
  subscribe(viewer: Viewer, after: number | null, filter: DomainEventFilter = {}): AsyncIterableIterator<DomainLifecycleEvent> {
    if (filter.domainUuid != null && after === null) {
      const domain = filter.hostId == null ? undefined : this.domainOn(filter.hostId, filter.domainUuid);
      if (!domain || !this.access.canSeeDomain(viewer, domain)) throw new NotFoundError('domain', filter.domainUuid);
    }
    return this.stream.subscribe(this.request(viewer, after, filter));
  }

  /** A page of history, and `totalCount`: how many events match for this viewer in all (counted when asked). */
  history(viewer: Viewer, after: number | null, first: number, filter: DomainEventFilter = {}) {
    const req = this.request(viewer, after, filter);
    return { ...this.stream.history(req, first), totalCount: () => this.stream.count(req) };
  }
}
