import type { ApiToken, QuotaLimits, QuotaUsage, User } from '../services/access/index.js';
import { builder } from './builder.js';
import { connectionFromSorted, countedConnection } from './connection.js';
import { ADMIN_ERRORS } from './errors.js';
import { encodeGlobalID, localId } from './ids.js';

export const RoleEnum = builder.enumType('Role', {
  description: 'ADMIN operates the server and sees everything; TENANT sees and touches only its own domains.',
  values: ['ADMIN', 'TENANT'] as const,
});

const QuotaLimitsRef = builder.objectRef<QuotaLimits>('QuotaLimits').implement({
  description: 'What a user may hold at most; null means unlimited.',
  fields: (t) => ({
    maxDomains: t.exposeInt('maxDomains', { nullable: true }),
    maxVcpus: t.exposeInt('maxVcpus', { nullable: true }),
    maxMemoryMiB: t.exposeInt('maxMemoryMiB', { nullable: true }),
    maxDiskGiB: t.exposeInt('maxDiskGiB', { nullable: true }),
    maxInterfaces: t.exposeInt('maxInterfaces', { nullable: true }),
    maxPortForwards: t.exposeInt('maxPortForwards', { nullable: true }),
  }),
});

const QuotaUsageRef = builder.objectRef<QuotaUsage>('QuotaUsage').implement({
  description: 'What a user holds now, including creations in progress.',
  fields: (t) => ({
    domains: t.exposeInt('domains'),
    vcpus: t.exposeInt('vcpus'),
    memoryMiB: t.exposeInt('memoryMiB'),
    diskGiB: t.exposeInt('diskGiB'),
    interfaces: t.exposeInt('interfaces'),
    portForwards: t.exposeInt('portForwards', { description: 'Port forwards on the domains you own now.' }),
  }),
});

export const QuotaRef = builder.objectRef<{ userId: string }>('Quota').implement({
  fields: (t) => ({
    limits: t.field({ type: QuotaLimitsRef, resolve: (q, _a, ctx) => ctx.services.quotas.limits(q.userId) }),
    usage: t.field({ type: QuotaUsageRef, resolve: (q, _a, ctx) => ctx.services.quotas.usage(q.userId) }),
  }),
});

export const ApiTokenRef = builder.node(builder.objectRef<ApiToken>('ApiToken'), {
  description: 'An API token; its secret is shown only once, when it is created.',
  id: { resolve: (t) => t.id },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'prefix' in v && 'label' in v,
  loadOne: (id, ctx) => ctx.services.users.findToken(ctx.viewer, id),
  fields: (t) => ({
    label: t.exposeString('label'),
    prefix: t.exposeString('prefix', { description: 'The first characters of the token, to recognise it.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.createdAt }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revokedAt }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'From then on the token is refused (null: never).',
      resolve: (k) => k.expiresAt,
    }),
    lastUsedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When a request last used the token, to within a minute (null: never used).',
      resolve: (k) => k.lastUsedAt,
    }),
  }),
});

export const UserRef = builder.node(builder.objectRef<User>('User'), {
  description: 'Someone who calls the API with a token.',
  id: { resolve: (u) => u.id },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'role' in v && 'createdAt' in v && !('prefix' in v),
  loadOne: (id, ctx) => ctx.services.users.find(ctx.viewer, id),
  fields: (t) => ({
    name: t.exposeString('name'),
    role: t.field({ type: RoleEnum, resolve: (u) => u.role }),
    createdAt: t.field({ type: 'DateTime', resolve: (u) => u.createdAt }),
    quota: t.field({ type: QuotaRef, resolve: (u) => ({ userId: u.id }) }),
    apiTokens: t.field({
      type: [ApiTokenRef],
      description: 'Admins only (empty for tenants).',
      resolve: (u, _a, ctx) => ctx.services.users.tokens(ctx.viewer, u.id),
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({ type: UserRef, description: 'You.', resolve: (_r, _a, ctx) => ctx.services.users.get(ctx.viewer, ctx.viewer.userId) }),
);

builder.queryField('users', (t) =>
  t.connection(
    {
      type: UserRef,
      description: 'All users, ordered by name (admins only; FORBIDDEN otherwise).',
      resolve: (_r, args, ctx) => connectionFromSorted(ctx.services.users.list(ctx.viewer), args, (u) => [u.name, u.id]),
    },
    countedConnection('UserConnection'),
    { name: 'UserEdge' },
  ),
);

const CreateUserInput = builder.inputType('CreateUserInput', {
  fields: (t) => ({ name: t.string({ required: true }), role: t.field({ type: RoleEnum, required: true }) }),
});

const userTarget = (_args: unknown, result: unknown) =>
  result && typeof result === 'object' && 'id' in result ? encodeGlobalID('User', String(result.id)) : null;

builder.mutationField('createUser', (t) =>
  t.field({
    type: UserRef,
    description: 'Admins: adds a user (give it a token and a quota next).',
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    extensions: { auditTarget: userTarget },
    errors: {
      types: ADMIN_ERRORS,
      result: { name: 'CreateUserSuccess' },
      union: { name: 'CreateUserResult' },
      dataField: { name: 'user' },
    },
    resolve: (_r, args, ctx) => ctx.services.users.create(ctx.viewer, args.input),
  }),
);

builder.mutationField('deleteUser', (t) =>
  t.field({
    type: UserRef,
    description: 'Admins: removes a user and its tokens; refused (IN_USE) while it owns domains.',
    args: { id: t.arg.id({ required: true }) },
    errors: {
      types: ADMIN_ERRORS,
      result: { name: 'DeleteUserSuccess' },
      union: { name: 'DeleteUserResult' },
      dataField: { name: 'user' },
    },
    resolve: (_r, args, ctx) => ctx.services.users.delete(ctx.viewer, localId(String(args.id), 'User')),
  }),
);

builder.mutationField('createApiToken', (t) =>
  t.field({
    type: ApiTokenRef,
    description:
      'Admins: a new token for a user, valid until `expiresAt` (omitted: until revoked). The secret `token` is returned only in this answer.',
    args: {
      userId: t.arg.id({ required: true }),
      label: t.arg.string({ required: true }),
      expiresAt: t.arg({ type: 'DateTime', required: false, description: 'When the token stops working (in the future); omitted: never.' }),
    },
    extensions: { auditTarget: (args: { userId: string }) => args.userId },
    errors: {
      types: ADMIN_ERRORS,
      union: { name: 'CreateApiTokenResult' },
      dataField: { name: 'apiToken' },
      result: {
        name: 'CreateApiTokenSuccess',
        fields: (r) => ({
          token: r.string({
            description: 'The secret; store it now, it cannot be shown again.',
            resolve: (p) => (p as ApiToken & { token: string }).token,
          }),
        }),
      },
    },
    resolve: (_r, args, ctx) => {
      const { token, apiToken } = ctx.services.users.createToken(
        ctx.viewer,
        localId(String(args.userId), 'User'),
        args.label,
        args.expiresAt ?? null,
      );
      return { ...apiToken, token };
    },
  }),
);

builder.mutationField('revokeApiToken', (t) =>
  t.field({
    type: ApiTokenRef,
    description: 'Admins: the token stops working at once; its open WebSocket connections are closed.',
    args: { id: t.arg.id({ required: true }) },
    errors: {
      types: ADMIN_ERRORS,
      result: { name: 'RevokeApiTokenSuccess' },
      union: { name: 'RevokeApiTokenResult' },
      dataField: { name: 'apiToken' },
    },
    resolve: (_r, args, ctx) => ctx.services.users.revokeToken(ctx.viewer, localId(String(args.id), 'ApiToken')),
  }),
);

const QuotaInput = builder.inputType('QuotaInput', {
  fields: (t) => ({
    maxDomains: t.int({ required: true }),
    maxVcpus: t.int({ required: true }),
    maxMemoryMiB: t.int({ required: true }),
    maxDiskGiB: t.int({ required: true }),
    maxInterfaces: t.int({ required: true }),
    maxPortForwards: t.int({
      required: false,
      description: 'NAT port forwards on the user’s domains; omitted: unchanged (0 for a user without a quota yet).',
    }),
  }),
});

builder.mutationField('setQuota', (t) =>
  t.field({
    type: QuotaRef,
    description: "Admins: sets a user's limits. Lowering them below current usage blocks new creations only.",
    args: { userId: t.arg.id({ required: true }), input: t.arg({ type: QuotaInput, required: true }) },
    extensions: { auditTarget: (args: { userId: string }) => args.userId },
    errors: { types: ADMIN_ERRORS, result: { name: 'SetQuotaSuccess' }, union: { name: 'SetQuotaResult' }, dataField: { name: 'quota' } },
    resolve: (_r, args, ctx) => {
      const userId = localId(String(args.userId), 'User');
      ctx.services.quotas.set(ctx.viewer, userId, args.input);
      return { userId };
    },
  }),
);
