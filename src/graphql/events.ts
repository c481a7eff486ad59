import { DOMAIN_EVENT_DETAIL_NAMES, DOMAIN_EVENT_TYPES } from '../libvirt/constants.js';
import { NotFoundError } from '../services/errors.js';
import type { DomainLifecycleEvent } from '../services/events.js';
import { builder } from './builder.js';
import { encodeCursor } from './connection.js';
import { DomainRef } from './domain.js';
import { localId } from './ids.js';

export const DomainEventTypeEnum = builder.enumType('DomainEventType', {
  description: "libvirt's virDomainEventType, by libvirt's names.",
  values: DOMAIN_EVENT_TYPES,
});

export const DomainEventDetailEnum = builder.enumType('DomainEventDetail', {
  description: "libvirt's event detail (virDomainEvent*DetailType) by libvirt's names, e.g. BOOTED, DESTROYED, FAILED.",
  values: DOMAIN_EVENT_DETAIL_NAMES,
});

export const DomainLifecycleEventRef = builder.objectRef<DomainLifecycleEvent>('DomainLifecycleEvent').implement({
  fields: (t) => ({
    cursor: t.string({ description: 'Opaque position of this event in the stream.', resolve: (e) => encodeCursor([String(e.seq)]) }),
    type: t.field({ type: DomainEventTypeEnum, resolve: (e) => e.type }),
    detail: t.field({ type: DomainEventDetailEnum, resolve: (e) => e.detail as (typeof DOMAIN_EVENT_DETAIL_NAMES)[number] }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    synthetic: t.exposeBoolean('synthetic', { description: 'True when inferred on resync rather than signalled by libvirt.' }),
    domain: t.field({ type: DomainRef, description: 'The domain as it was right after the event.', resolve: (e) => e.domain }),
  }),
});

builder.subscriptionField('domainEvents', (t) =>
  t.field({
    type: DomainLifecycleEventRef,
    description: 'Domain lifecycle events you may see, in the order libvirt reported them.',
    args: { domainId: t.arg.id({ required: false }) },
    subscribe: (_root, args, ctx) => {
      let domainUuid: string | null = null;
      if (args.domainId) {
        domainUuid = localId(String(args.domainId), 'Domain');
        // Same answer for a missing and a foreign domain.
        if (!ctx.services.domains.find(ctx.viewer, domainUuid)) throw new NotFoundError('domain', String(args.domainId));
      }
      return ctx.services.domainEvents.subscribe(ctx.viewer, { domainUuid });
    },
    resolve: (event) => event,
  }),
);
