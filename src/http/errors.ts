import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { PothosValidationError } from '@pothos/core';
import { GraphQLError, type GraphQLErrorOptions, type ValidationContext } from 'graphql';
import type { Logger } from 'pino';
import type { QueryLimits } from '../config.js';
import { InvalidPageArgsError } from '../graphql/connection.js';
import { ServiceError } from '../services/errors.js';
import { StreamError } from '../services/events/index.js';
import type { StorageHealth } from '../services/instance/index.js';

// How errors and refusals leave the server, over HTTP and WebSocket alike: each with a code.

export function unauthenticated(): GraphQLError {
  return new GraphQLError('a valid API token is required: send "Authorization: Bearer <token>"', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
  });
}

/** Where an error happened (locations and path) and its extensions (yoga's HTTP status), for the error replacing it. */
function whereOf(error: unknown): Omit<GraphQLErrorOptions, 'extensions'> & { extensions: Record<string, unknown> } {
  if (!(error instanceof GraphQLError)) return { extensions: {} };
  return { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions: error.extensions };
}

/**
 * Every error leaves with an `extensions.code`, and with its locations and path:
 * - an error that has a code (ours, yoga's, graphql-armor's) as it is;
 * - a write the disk refused as STORAGE_UNAVAILABLE;
 * - our deliberate errors with their code; bad page arguments and Pothos' checks of arguments as BAD_USER_INPUT;
 * - graphql-js' verdicts on the request before anything ran (a variable missing or not of its type: no path) as
 *   BAD_USER_INPUT, with graphql-js' whole message, which names the variable;
 * - everything else is masked as INTERNAL_SERVER_ERROR and logged.
 */
export function maskError(log: Logger, storage: StorageHealth) {
  return (error: unknown): Error => {
    if (error instanceof GraphQLError && typeof error.extensions.code === 'string') return error;
    const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
    const coded = (code: string, message: string) => {
      const where = whereOf(error);
      return new GraphQLError(message, { ...where, extensions: { ...where.extensions, code } });
    };
    if (original instanceof ServiceError || original instanceof StreamError) return coded(original.code, original.message);
    // The disk refused a write (SQLite's SQLITE_FULL, I/O errors): said as such, and mutations stop until it recovers.
    if (storage.noteFailure(original)) {
      log.error({ err: original }, 'a write to the database failed');
      return coded(
        'STORAGE_UNAVAILABLE',
        'the server could not write its database (disk full or failing); retry once an operator has freed space',
      );
    }
    if (original instanceof InvalidPageArgsError || original instanceof PothosValidationError)
      return coded('BAD_USER_INPUT', original.message);
    if (error instanceof GraphQLError && error.path === undefined && original instanceof GraphQLError)
      return coded('BAD_USER_INPUT', error.message);
    log.error({ err: original }, 'unexpected error while executing an operation');
    const path = error instanceof GraphQLError ? error.path : undefined;
    return new GraphQLError('Unexpected error.', { path, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  };
}

/**
 * A parse or validation error sent over graphql-ws with the code HTTP gives it (yoga codes those on its own
 * path only); a code it has (a query limit's) stays. HTTP status hints mean nothing on a socket.
 */
export function withCode(error: GraphQLError, code: string): GraphQLError {
  const {
    extensions: { http: _http, ...extensions },
    ...where
  } = whereOf(error);
  return new GraphQLError(error.message, {
    ...where,
    originalError: error.originalError,
    extensions: { ...extensions, code: typeof extensions.code === 'string' ? extensions.code : code },
  });
}

/** A graphql-armor rejection as a GraphQL error with our code (validation rules report, the parser throws). */
function rejectWith(code: string) {
  return (ctx: ValidationContext | null, err: GraphQLError) => {
    const coded = new GraphQLError(err.message.replace(/^Syntax Error: /, ''), { extensions: { code } });
    if (!ctx) throw coded;
    ctx.reportError(coded);
  };
}

/** Depth, alias, token, cost and directive limits on every operation, over HTTP and WebSocket alike. */
export function armorPlugins(limits: QueryLimits) {
  const common = { propagateOnRejection: false, exposeLimits: true };
  return new EnvelopArmor({
    maxDepth: { ...common, n: limits.maxDepth, onReject: [rejectWith('QUERY_TOO_DEEP')] },
    maxAliases: { ...common, n: limits.maxAliases, onReject: [rejectWith('TOO_MANY_ALIASES')] },
    maxTokens: { ...common, n: limits.maxTokens, onReject: [rejectWith('QUERY_TOO_LARGE')] },
    costLimit: { ...common, maxCost: limits.maxCost, onReject: [rejectWith('QUERY_TOO_COSTLY')] },
    maxDirectives: { ...common, n: limits.maxDirectives, onReject: [rejectWith('TOO_MANY_DIRECTIVES')] },
    blockFieldSuggestion: { enabled: true },
  }).protect().plugins;
}
