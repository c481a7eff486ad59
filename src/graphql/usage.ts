import type { DomainUsage, UsageSummary } from '../model/index.js';
import { builder } from './builder.js';
import { compareKeys, connectionFromSorted, countedConnection } from './connection.js';
import type { Context } from './context.js';
import { DomainRef } from './domain.js';
import { encodeGlobalID } from './ids.js';
import { UserRef } from './users.js';

const hours = (description: string) => ({ description });

const usageKey = (ctx: Context, u: DomainUsage) => ctx.services.domains.keyOf({ uuid: u.domainUuid, hostId: u.hostId });

const DomainUsageRef = builder.objectRef<DomainUsage>('DomainUsage').implement({
  description: 'What one domain used within the range, while the user owned it.',
  fields: (t) => ({
    domainId: t.id({
      description: 'The domain’s ID, also once it is deleted.',
      resolve: (u, _a, ctx) => encodeGlobalID('Domain', usageKey(ctx, u)),
    }),
    domain: t.field({
      type: DomainRef,
      nullable: true,
      description: 'The domain as it is now; null once it is deleted or no longer yours.',
      resolve: (u, _a, ctx) => ctx.services.domains.find(ctx.viewer, usageKey(ctx, u)),
    }),
    name: t.exposeString('name', { description: 'The name it had last within the range.' }),
    existedHours: t.exposeFloat('existedHours', hours('Hours it existed (defined, running or not).')),
    runningHours: t.exposeFloat('runningHours', hours('Hours it had a running or paused instance.')),
    vcpuHours: t.exposeFloat('vcpuHours', hours('vCPUs × hours running.')),
    memoryGiBHours: t.exposeFloat('memoryGiBHours', hours('Memory in GiB × hours running.')),
    diskGiBHours: t.exposeFloat('diskGiBHours', hours('Disk capacity in GiB × hours it existed.')),
  }),
});

const sum = (s: UsageSummary, pick: (d: DomainUsage) => number) => s.domains.reduce((n, d) => n + pick(d), 0);

const UsageRef = builder.objectRef<UsageSummary>('Usage').implement({
  description:
    'What a user’s domains used within [from, to), counted up to now: every domain it owned in that time, deleted ones included. ' +
    'A domain given to another user counts for each owner for the time it was theirs.',
  fields: (t) => ({
    from: t.field({ type: 'DateTime', description: 'The range asked for, from this moment…', resolve: (s) => s.from }),
    to: t.field({ type: 'DateTime', description: '…to this one (not included); figures count up to now.', resolve: (s) => s.to }),
    runningHours: t.float({
      description: 'Hours of running instances, all domains together.',
      resolve: (s) => sum(s, (d) => d.runningHours),
    }),
    vcpuHours: t.float({ description: 'vCPUs × hours running, all domains together.', resolve: (s) => sum(s, (d) => d.vcpuHours) }),
    memoryGiBHours: t.float({
      description: 'Memory in GiB × hours running, all domains together.',
      resolve: (s) => sum(s, (d) => d.memoryGiBHours),
    }),
    diskGiBHours: t.float({
      description: 'Disk capacity in GiB × hours existing, all domains together.',
      resolve: (s) => sum(s, (d) => d.diskGiBHours),
    }),
    domains: t.connection(
      {
        type: DomainUsageRef,
        description: 'Per domain, by name.',
        resolve: (s, args, ctx) => {
          // By name, then the domain's key (its UUID, with its host where that is not the local one).
          const key = (d: DomainUsage) => [d.name, usageKey(ctx, d)] as const;
          const sorted = [...s.domains].sort((x, y) => compareKeys(key(x), key(y)));
          return connectionFromSorted(sorted, args, key);
        },
      },
      countedConnection('DomainUsageConnection'),
      { name: 'DomainUsageEdge' },
    ),
  }),
});

builder.objectField(UserRef, 'usage', (t) =>
  t.field({
    type: UsageRef,
    // A refused range fails this field alone, not the user (or the page of users) it is asked on.
    nullable: true,
    description:
      'Metering: what this user’s domains used between `from` and `to` (at most 366 days apart; figures count up to now). ' +
      'Tenants may ask of themselves. VALIDATION when `from` is not before `to` or the range is longer.',
    args: {
      from: t.arg({ type: 'DateTime', required: true }),
      to: t.arg({ type: 'DateTime', required: true }),
    },
    resolve: (u, args, ctx) => ctx.services.usage.of(ctx.viewer, u.id, args.from, args.to),
  }),
);
