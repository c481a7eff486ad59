import type { HostLifecycleEvent, HostState } from '../../model/index.js';
import type { AccessPolicy, Viewer } from '../access/index.js';
import type { EventStream } from '../events/index.js';

export interface HostEventFilter {
  hostId?: string | null;
  types?: readonly HostState[] | null;
}

/** Host state changes (admins only): live, or resumed from a cursor, in the one log with domain and network events. */
export class HostEventService {
  constructor(
    private readonly stream: EventStream,
    private readonly access: AccessPolicy,
  ) {}

  subscribe(viewer: Viewer, after: number | null, filter: HostEventFilter = {}): AsyncIterableIterator<HostLifecycleEvent> {
    this.access.requireAdmin(viewer);
    const types = filter.types?.length ? new Set<string>(filter.types) : null;
    return this.stream.subscribe<HostLifecycleEvent>({
      kind: 'HOST',
      after,
      sql: { subjectUuid: filter.hostId, types: filter.types },
      // '' (a malformed or foreign ID) matches nothing, live as in the replay's SQL.
      accept: (e) => (filter.hostId == null || e.host.id === filter.hostId) && (!types || types.has(e.type)),
    });
  }
}
