import type { NetworkEventType, NetworkLifecycleEvent } from '../../model/index.js';
import type { AccessPolicy, Viewer } from '../access/index.js';
import type { EventStream } from '../events/index.js';

export interface NetworkEventFilter {
  networkUuid?: string | null;
  /** With `networkUuid`: the network's host (a UUID names a network only with its host). */
  hostId?: number | null;
  types?: readonly NetworkEventType[] | null;
}

/** Network lifecycle events (admins only): live, or resumed from a cursor. */
export class NetworkEventService {
  constructor(
    private readonly stream: EventStream,
    private readonly access: AccessPolicy,
  ) {}

  subscribe(viewer: Viewer, after: number | null, filter: NetworkEventFilter = {}): AsyncIterableIterator<NetworkLifecycleEvent> {
    this.access.requireAdmin(viewer);
    const types = filter.types?.length ? new Set<string>(filter.types) : null;
    return this.stream.subscribe<NetworkLifecycleEvent>({
      kind: 'NETWORK',
      after,
      sql: { subjectUuid: filter.networkUuid, hostId: filter.hostId, types: filter.types },
      // '' (a malformed or foreign ID) matches nothing, live as in the replay's SQL.
      accept: (e) =>
        (filter.networkUuid == null || e.network.uuid === filter.networkUuid) &&
        (filter.hostId == null || e.hostId === filter.hostId) &&
        (!types || types.has(e.type)),
    });
  }
}
