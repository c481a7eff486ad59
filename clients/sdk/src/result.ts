/**
 * Result unions without `__typename` strings: every mutation answers `XSuccess | <error types>`, and every
 * error type implements `Error { code message }`. Select the errors with the `ErrorFields` fragment (as the
 * SDK's documents do); then
 *
 *   const r = outcome(data.createDomain);      // { ok: true, value: CreateDomainSuccess } | { ok: false, error }
 *   if (!r.ok && r.error.code === 'QUOTA_EXCEEDED') console.log(r.error.resource);
 *   const { domain } = unwrap(data.startDomain); // the success, or throws ApiError
 */
import { ApiError } from './errors.js';
import { graphql } from './graphql.js';

/** Selects, on any result union, the fields every error has, and the extra fields of those that have some. */
export const ErrorFields = graphql(`
  fragment ErrorFields on Error @_unmask {
    __typename
    code
    message
    ... on ValidationError { field }
    ... on QuotaExceededError { resource limit used requested }
  }
`);

type AnyError = { code: string; message: string };
/** The error members of a result union. */
export type ErrorOf<T> = Extract<NonNullable<T>, AnyError>;
/** The success member of a result union. */
export type SuccessOf<T> = Exclude<NonNullable<T>, AnyError>;
export type Outcome<T> = { ok: true; value: SuccessOf<T> } | { ok: false; error: ErrorOf<T> };

export function isError<T>(r: T): r is T & ErrorOf<T> {
  if (r === null || typeof r !== 'object') return false;
  const e = r as Partial<Record<'code' | 'message', unknown>>;
  return typeof e.code === 'string' && typeof e.message === 'string';
}

/** A null result (the field failed: its GraphQL error is in the response's `errors`) is thrown by the client. */
function present<T>(r: T): NonNullable<T> {
  if (r === null || r === undefined) throw new ApiError('NO_RESULT', 'the server answered no result');
  return r;
}

export function outcome<T>(r: T): Outcome<T> {
  const v = present(r);
  return isError(v) ? { ok: false, error: v } : { ok: true, value: v as SuccessOf<T> };
}

/** The typed error as an ApiError (code, message, GraphQL type, the other fields as details). */
export function toApiError(e: AnyError): ApiError {
  const { code, message, __typename, ...details } = e as AnyError & { __typename?: string };
  return new ApiError(code, message, __typename ?? null, details);
}

/** The success of a result union, or the typed error thrown as an ApiError. */
export function unwrap<T>(r: T): SuccessOf<T> {
  const o = outcome(r);
  if (o.ok) return o.value;
  throw toApiError(o.error);
}
