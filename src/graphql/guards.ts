import { wrapOrThrow } from '@pothos/plugin-errors';
import { defaultFieldResolver, GraphQLError, type GraphQLField, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { ServiceError, StorageUnavailableError } from '../services/errors.js';
import type { Context } from './context.js';

/** A mutation field may say how to name its target for the audit log (default: its `id` or `userId` argument). */
export type AuditTarget = (args: Record<string, unknown>, result: unknown, ctx: Context) => string | null;

function codeOf(err: unknown): string {
  if (err instanceof ServiceError) return err.code;
  const original = err instanceof GraphQLError ? (err.originalError ?? err) : err;
  if (original instanceof ServiceError) return original.code;
  const code = err instanceof GraphQLError ? err.extensions?.code : undefined;
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

/** The ServiceError a mutation returned as data (plugin-errors hands back a proxy; its constructor is the class). */
function returnedError(result: unknown): ServiceError | null {
  if (result instanceof ServiceError) return result;
  const ctor = (result as { constructor?: { prototype?: unknown } } | null)?.constructor;
  return ctor?.prototype instanceof ServiceError ? (result as ServiceError) : null;
}

/** The error as the field's result union member when it lists its type (plugin-errors' wrapping), else thrown with its code. */
function returnOrThrow(field: GraphQLField<unknown, Context>, err: ServiceError): unknown {
  const listed = (field.extensions?.pothosErrors ?? []) as (new (...args: never[]) => Error)[];
  return wrapOrThrow(err, listed, undefined);
}

/** STORAGE_UNAVAILABLE while the database cannot take writes, else null. */
function storageRefusal(ctx: Context): StorageUnavailableError | null {
  try {
    ctx.services.storage.assertWritable();
    return null;
  } catch (err) {
    if (err instanceof StorageUnavailableError) return err;
    throw err;
  }
}

/**
 * Cross-cutting rules applied to the built schema, so that every field — including ones added later —
 * obeys them without its resolver knowing:
 * - every mutation is recorded in the audit log (who, what, target, result), whatever the outcome;
 * - no mutation runs while the database cannot take writes (STORAGE_UNAVAILABLE): nothing may be done in
 *   libvirt that could not be recorded;
 * - every subscription counts against its token's cap and ends when the token is revoked.
 */
export function guardSchema(schema: GraphQLSchema): GraphQLSchema {
  for (const field of Object.values(schema.getMutationType()?.getFields() ?? {})) {
    const resolve: GraphQLFieldResolver<unknown, Context> = field.resolve ?? defaultFieldResolver;
    const targetOf = field.extensions?.auditTarget as AuditTarget | undefined;
    const defaultTarget = (args: Record<string, unknown>) => {
      const v = args.id ?? args.userId;
      return typeof v === 'string' || typeof v === 'number' ? String(v) : null; // an ID argument arrives as a string
    };
    field.resolve = async (root, args: Record<string, unknown>, ctx: Context, info) => {
      const record = (result: unknown, outcome: string, message: string | null) => {
        let target: string | null;
        try {
          target = (targetOf ?? defaultTarget)(args, result, ctx) ?? defaultTarget(args);
        } catch {
          target = defaultTarget(args);
        }
        ctx.services.audit.record(ctx.viewer, { action: field.name, target, result: outcome, message });
      };
      const refused = storageRefusal(ctx);
      if (refused) {
        record(undefined, refused.code, refused.message); // held in memory until the database takes it
        return returnOrThrow(field as GraphQLField<unknown, Context>, refused);
      }
      let result: unknown;
      try {
        result = await resolve(root, args, ctx, info);
      } catch (err) {
        record(undefined, codeOf(err), err instanceof ServiceError ? err.message : null);
        throw err;
      }
      const failed = returnedError(result);
      if (failed) record(undefined, failed.code, failed.message);
      else record(result, 'SUCCESS', null);
      return result;
    };
  }
  for (const field of Object.values(schema.getSubscriptionType()?.getFields() ?? {})) {
    const subscribe = field.subscribe;
    if (!subscribe) continue;
    field.subscribe = async (root, args, ctx: Context, info) => {
      ctx.services.subscriptions.assertRoom(ctx.viewer);
      const source = await subscribe(root, args, ctx, info);
      return ctx.services.subscriptions.track(ctx.viewer, source as AsyncIterable<unknown>);
    };
  }
  return schema;
}
