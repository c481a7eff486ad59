import {
  DOMAIN_EVENT_DETAIL_NAMES,
  DOMAIN_EVENT_TYPES,
  type DomainLifecycleEvent,
  HOST_EVENT_DETAILS,
  type HostLifecycleEvent,
  NETWORK_EVENT_TYPES,
  type NetworkLifecycleEvent,
  snapshotOf,
} from '../model/index.js';
import { builder } from './builder.js';
import type { Context } from './context.js';
import { InvalidPageArgsError, pageSize, refuseBackwardPaging } from './connection.js';
import { DomainRef, DomainStateEnum } from './domain.js';
import { HostRef, HostStateEnum } from './host.js';
import { encodeGlobalID, localId } from './ids.js';
import { NetworkRef } from './network.js';

/** The log position an `after` argument names (null: none given); BAD_USER_INPUT for text that is no event cursor. */
function afterCursor(ctx: Context, cursor: string | null | undefined): number | null {
  if (cursor === null || cursor === undefined) return null;
  const seq = ctx.services.eventCursors.decode(cursor);
  if (seq === null) throw new InvalidPageArgsError('invalid event cursor');
  return seq;
}

export const DomainEventTypeEnum = builder.enumType('DomainEventType', {
  description: "libvirt's virDomainEventType, by libvirt's names.",
  values: DOMAIN_EVENT_TYPES,
});

export const DomainEventDetailEnum = builder.enumType('DomainEventDetail', {
  description: "libvirt's event detail (virDomainEvent*DetailType) by libvirt's names, e.g. BOOTED, DESTROYED, FAILED.",
  values: DOMAIN_EVENT_DETAIL_NAMES,
});

export const NetworkEventTypeEnum = builder.enumType('NetworkEventType', {
  description: "libvirt's virNetworkEventLifecycleType, by libvirt's names.",
  values: NETWORK_EVENT_TYPES,
});

export const DomainLifecycleEventRef = builder.objectRef<DomainLifecycleEvent>('DomainLifecycleEvent').implement({
  description: 'One lifecycle change of a domain, as recorded in the durable event log.',
  fields: (t) => ({
    cursor: t.string({
      description: 'Opaque position of this event in the log: pass it as `after` to resume right after it.',
      resolve: (e, _args, ctx) => ctx.services.eventCursors.encode(e),
    }),
    type: t.field({ type: DomainEventTypeEnum, resolve: (e) => e.type }),
    detail: t.field({ type: DomainEventDetailEnum, resolve: (e) => e.detail }),
    state: t.field({
      type: DomainStateEnum,
      description: 'The state the domain was in right after the event.',
      resolve: (e) => e.domain.state,
    }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    synthetic: t.exposeBoolean('synthetic', {
      description:
        'True when the server announced the change rather than receiving a libvirt signal: one it inferred on resync (e.g. after libvirt restarted), or a hand-over by assignDomain (DEFINED/UPDATED: libvirt signals none).',
    }),
    ownerId: t.id({
      nullable: true,
      description: 'The `User.id` of whoever owned the domain when the event happened (null: nobody did).',
      resolve: (e) => (e.ownerId ? encodeGlobalID('User', e.ownerId) : null),
    }),
    domain: t.field({
      type: DomainRef,
      description: 'The domain as it was right after the event; its `owner` is the one it had then (`ownerId`).',
      resolve: (e) => snapshotOf(e),
    }),
  }),
});

export const NetworkLifecycleEventRef = builder.objectRef<NetworkLifecycleEvent>('NetworkLifecycleEvent').implement({
  description: 'One lifecycle change of a libvirt network, as recorded in the durable event log.',
  fields: (t) => ({
    cursor: t.string({
      description: 'Opaque position of this event in the log.',
      resolve: (e, _args, ctx) => ctx.services.eventCursors.encode(e),
    }),
    type: t.field({ type: NetworkEventTypeEnum, resolve: (e) => e.type }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    synthetic: t.exposeBoolean('synthetic', { description: 'True when inferred on resync rather than signalled by libvirt.' }),
    network: t.field({ type: NetworkRef, description: 'The network as it was right after the event.', resolve: (e) => e.network }),
  }),
});

const HostEventDetailEnum = builder.enumType('HostEventDetail', {
  description: 'Why a host changed state.',
  values: {
    LIBVIRT_LOST: { description: 'libvirt stopped answering (the bus or libvirt-dbus went away, or a state check failed).' },
    LIBVIRT_BACK: { description: 'libvirt answers again; everything was re-read.' },
    DRAIN_SET: { description: 'An admin set draining (setHostDraining).' },
    DRAIN_CLEARED: { description: 'An admin cleared draining.' },
    STARTUP: {
      description: 'A start of the server found the host in another state than its last event says (or it had none yet): synthetic.',
    },
  } satisfies Record<(typeof HOST_EVENT_DETAILS)[number], { description: string }>,
});

export const HostLifecycleEventRef = builder.objectRef<HostLifecycleEvent>('HostLifecycleEvent').implement({
  description: 'One change of a host’s state (or of its draining flag), in the same durable log and cursor sequence as domain events.',
  fields: (t) => ({
    cursor: t.string({
      description: 'Opaque position of this event in the log.',
      resolve: (e, _args, ctx) => ctx.services.eventCursors.encode(e),
    }),
    type: t.field({ type: HostStateEnum, description: 'The state the host entered.', resolve: (e) => e.type }),
    detail: t.field({ type: HostEventDetailEnum, resolve: (e) => e.detail }),
    draining: t.boolean({ description: 'Whether the host was draining right after the event.', resolve: (e) => e.host.draining }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    synthetic: t.exposeBoolean('synthetic', { description: 'True when a start of the server inferred the change (STARTUP).' }),
    hostName: t.string({ description: 'The host’s name when the event happened.', resolve: (e) => e.host.name }),
    host: t.field({
      type: HostRef,
      nullable: true,
      description: 'The host as it is now (null once an admin removed it).',
      resolve: (e, _args, ctx) => ctx.services.hosts.find(ctx.viewer, e.host.id),
    }),
  }),
});

const DomainEventFilterInput = builder.inputType('DomainEventFilter', {
  fields: (t) => ({
    domainId: t.id({ required: false }),
    types: t.field({ type: [DomainEventTypeEnum], required: false }),
    ownerId: t.id({
      required: false,
      description: 'A `User.id`: only events of domains this user owned when they happened (useful to admins).',
    }),
  }),
});

/**
 * A malformed ID, one of another type, or an empty one becomes '' and so matches nothing; only a filter left
 * out (null) matches everything.
 */
function localIdOrNull(id: string | number | null | undefined, typename: string): string | null {
  return id === null || id === undefined ? null : localId(String(id), typename);
}

/** An object's UUID and host, from its ID (one that names nothing matches nothing; null: no filter). */
function subjectOf(ctx: Context, id: string | number | null | undefined, typename: 'Domain' | 'Network') {
  const key = localIdOrNull(id, typename);
  if (key === null) return { uuid: null, hostId: null };
  return typename === 'Domain' ? ctx.services.domains.locate(key) : ctx.services.networks.locate(key);
}

function domainOf(ctx: Context, id: string | number | null | undefined): { domainUuid: string | null; hostId: number | null } {
  const { uuid, hostId } = subjectOf(ctx, id, 'Domain');
  return { domainUuid: uuid, hostId };
}
const userIdOf = (id: string | number | null | undefined) => localIdOrNull(id, 'User');

builder.queryField('events', (t) =>
  t.connection(
    {
      type: DomainLifecycleEventRef,
      description: 'Domain events you may see, oldest first, from the durable log (as far back as retention keeps them).',
      args: { filter: t.arg({ type: DomainEventFilterInput, required: false }) },
      resolve: (_root, args, ctx) => {
        refuseBackwardPaging('events', args);
        const first = pageSize(args.first, 100);
        const f = args.filter ?? {};
        const page = ctx.services.domainEvents.history(ctx.viewer, afterCursor(ctx, args.after), first, {
          ...domainOf(ctx, f.domainId),
          types: f.types,
          ownerId: userIdOf(f.ownerId),
        });
        const edges = page.events.map((e) => ({ cursor: ctx.services.eventCursors.encode(e), node: e }));
        return {
          edges,
          totalCount: page.totalCount,
          pageInfo: {
            hasNextPage: page.hasNextPage,
            hasPreviousPage: false,
            startCursor: edges[0]?.cursor ?? null,
            endCursor: edges.at(-1)?.cursor ?? args.after ?? null,
          },
        };
      },
    },
    {
      name: 'DomainEventConnection',
      // A count over the log costs a query of its own: made only when a client asks for it.
      fields: (c) => ({
        totalCount: c.int({
          description: 'How many events match the filter in all (of those you may see), wherever `after` stands.',
          resolve: (conn) => (conn as unknown as { totalCount: () => number }).totalCount(),
        }),
      }),
    },
    { name: 'DomainEventEdge' },
  ),
);

builder.subscriptionField('domainEvents', (t) =>
  t.field({
    type: DomainLifecycleEventRef,
    description:
      'Domain lifecycle events you may see, in log order. With `after`, first replays everything after that cursor, ' +
      'then continues live with no gap and no duplicate; a cursor older than retention fails with CURSOR_EXPIRED.',
    args: {
      after: t.arg.string({ required: false }),
      domainId: t.arg.id({ required: false }),
      types: t.arg({ type: [DomainEventTypeEnum], required: false }),
      ownerId: t.arg.id({ required: false, description: 'A `User.id`, as in the `events` filter.' }),
    },
    subscribe: (_root, args, ctx) => {
      return ctx.services.domainEvents.subscribe(ctx.viewer, afterCursor(ctx, args.after), {
        ...domainOf(ctx, args.domainId),
        types: args.types,
        ownerId: userIdOf(args.ownerId),
      });
    },
    resolve: (event) => event,
  }),
);

builder.subscriptionField('networkEvents', (t) =>
  t.field({
    type: NetworkLifecycleEventRef,
    description: 'Network lifecycle events (admins only), replayed from `after` like domainEvents, then live.',
    args: {
      after: t.arg.string({ required: false }),
      networkId: t.arg.id({ required: false }),
      types: t.arg({ type: [NetworkEventTypeEnum], required: false }),
    },
    subscribe: (_root, args, ctx) =>
      ctx.services.networkEvents.subscribe(ctx.viewer, afterCursor(ctx, args.after), {
        ...(({ uuid, hostId }) => ({ networkUuid: uuid, hostId }))(subjectOf(ctx, args.networkId, 'Network')),
        types: args.types,
      }),
    resolve: (event) => event,
  }),
);

builder.subscriptionField('hostEvents', (t) =>
  t.field({
    type: HostLifecycleEventRef,
    description:
      'Host state changes (admins only): a host going DOWN, coming back UP, DRAINING set or cleared. Replayed from `after` like domainEvents, then live.',
    args: {
      after: t.arg.string({ required: false }),
      hostId: t.arg.id({ required: false }),
      types: t.arg({ type: [HostStateEnum], required: false }),
    },
    subscribe: (_root, args, ctx) =>
      ctx.services.hostEvents.subscribe(ctx.viewer, afterCursor(ctx, args.after), {
        hostId: localIdOrNull(args.hostId, 'Host'),
        types: args.types,
      }),
    resolve: (event) => event,
  }),
);
