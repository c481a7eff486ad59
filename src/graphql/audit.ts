import type { AuditEvent } from '../services/access/index.js';
import { builder } from './builder.js';
import { countedConnection, cursorKey, encodeCursor, InvalidPageArgsError, pageSize, refuseBackwardPaging } from './connection.js';
import { encodeGlobalID, localId } from './ids.js';

const AuditEventRef = builder.objectRef<AuditEvent>('AuditEvent').implement({
  description: 'One mutation: who called it, on what, and what they got.',
  fields: (t) => ({
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    actorId: t.string({
      description: 'Global ID of the user (kept after the user is deleted).',
      resolve: (e) => encodeGlobalID('User', e.actorId),
    }),
    actorName: t.exposeString('actorName'),
    tokenId: t.string({
      nullable: true,
      description: 'Global ID of the API token used.',
      resolve: (e) => (e.tokenId ? encodeGlobalID('ApiToken', e.tokenId) : null),
    }),
    action: t.exposeString('action', { description: 'The mutation, e.g. createDomain.' }),
    target: t.exposeString('target', { nullable: true, description: 'Global ID of the object acted on, when there is one.' }),
    result: t.exposeString('result', { description: 'SUCCESS, or the error code returned.' }),
    message: t.exposeString('message', { nullable: true, description: 'The error message, on failure.' }),
  }),
});

const AuditLogFilter = builder.inputType('AuditLogFilter', {
  fields: (t) => ({
    actorId: t.id({ required: false }),
    action: t.string({ required: false }),
    target: t.id({ required: false }),
    result: t.string({ required: false }),
    since: t.field({ type: 'DateTime', required: false }),
    until: t.field({ type: 'DateTime', required: false }),
  }),
});

/** Audit cursors hold the event's id. */
function afterId(cursor: string | null | undefined): number | null {
  const key = cursorKey(cursor);
  if (key === null) return null;
  const n = Number(key[0]);
  if (key.length !== 1 || !Number.isInteger(n)) throw new InvalidPageArgsError('invalid cursor in "after"');
  return n;
}

builder.queryField('auditLog', (t) =>
  t.connection(
    {
      type: AuditEventRef,
      description: 'Every mutation, newest first (admins only; FORBIDDEN otherwise). Pages forward only: last/before are BAD_USER_INPUT.',
      args: { filter: t.arg({ type: AuditLogFilter, required: false }) },
      resolve: (_r, args, ctx) => {
        refuseBackwardPaging('auditLog', args);
        const first = pageSize(args.first, 50);
        const f = args.filter ?? {};
        const page = ctx.services.audit.list(ctx.viewer, first, afterId(args.after), {
          ...f,
          actorId: f.actorId ? localId(String(f.actorId), 'User') : null,
          target: f.target ? String(f.target) : null,
        });
        const edges = page.events.map((e) => ({ cursor: encodeCursor([String(e.id)]), node: e }));
        return {
          edges,
          totalCount: page.totalCount,
          pageInfo: {
            hasNextPage: page.hasNextPage,
            hasPreviousPage: !!args.after,
            startCursor: edges[0]?.cursor ?? null,
            endCursor: edges.at(-1)?.cursor ?? null,
          },
        };
      },
    },
    countedConnection('AuditEventConnection'),
    { name: 'AuditEventEdge' },
  ),
);
