/**
 * Every failure the SDK reports is an ApiError with a `code`:
 * - a typed error of a mutation's result union (`NOT_FOUND`, `QUOTA_EXCEEDED`, … the schema's ErrorCode), with
 *   its extra fields (`field`, `resource`, `limit`, …) in `details` and its GraphQL type in `type`;
 * - a GraphQL error of the response, by its `extensions.code` (`UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`,
 *   `CURSOR_EXPIRED`, `QUERY_TOO_DEEP`, …);
 * - `UNREACHABLE` when the server could not be reached, `HTTP_ERROR` for an answer that is not GraphQL.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    /** The GraphQL type of a typed error (`QuotaExceededError`), else null. */
    readonly type: string | null = null,
    /** The typed error's other fields, or a GraphQL error's path and extensions. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.type ? { type: this.type } : {}), ...this.details };
  }
}

export interface GraphQLErrorLike {
  message: string;
  path?: readonly (string | number)[];
  extensions?: Record<string, unknown>;
}

export function fromGraphQLError(e: GraphQLErrorLike): ApiError {
  const code = typeof e.extensions?.code === 'string' ? e.extensions.code : 'GRAPHQL_ERROR';
  const details: Record<string, unknown> = {};
  if (e.path) details.path = e.path;
  return new ApiError(code, e.message, null, details);
}

/**
 * Why a WebSocket connection ended, in words. graphql-ws hands its error sink whatever ended the socket: a
 * CloseEvent (code and reason), the socket's ErrorEvent when it never connected (whose `message` is e.g.
 * "connect ECONNREFUSED 127.0.0.1:4000"), an Error, or the GraphQL errors of a refused operation.
 */
export function describeDisconnect(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (Array.isArray(err)) return err.map((e) => describeDisconnect(e)).join('; ');
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; reason?: unknown; message?: unknown; error?: unknown };
    if (typeof e.code === 'number') return `close code ${e.code}${typeof e.reason === 'string' && e.reason ? ` (${e.reason})` : ''}`;
    if (typeof e.message === 'string' && e.message) return e.message;
    if (e.error instanceof Error) return e.error.message;
    return JSON.stringify(err);
  }
  return String(err);
}
