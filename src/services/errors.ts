import { LibvirtError } from '../libvirt/errors.js';

/**
 * Failures a user can act on. The GraphQL layer exposes each class as a type implementing `Error`, and
 * mutations return them as data; anything else thrown is an unexpected failure.
 */
export const ERROR_CODES = [
  'NOT_FOUND',
  'VALIDATION',
  'INVALID_STATE',
  'QUOTA_EXCEEDED',
  'FORBIDDEN',
  'CONFLICT',
  'IN_USE',
  'ADDRESS_EXHAUSTED',
  'LIMIT_EXCEEDED',
  'UNSUPPORTED',
  'LIBVIRT_UNAVAILABLE',
  'LIBVIRT_ERROR',
  'STORAGE_UNAVAILABLE',
  'NO_HOST_AVAILABLE',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export abstract class ServiceError extends Error {
  abstract readonly code: ErrorCode;
}

export class NotFoundError extends ServiceError {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super(`${kind} ${JSON.stringify(id)} not found`);
  }
}

export class ValidationError extends ServiceError {
  readonly code = 'VALIDATION';
  constructor(
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

export class InvalidStateError extends ServiceError {
  readonly code = 'INVALID_STATE';
}

export class ForbiddenError extends ServiceError {
  readonly code = 'FORBIDDEN';
  constructor(message = 'this operation needs the ADMIN role') {
    super(message);
  }
}

export class ConflictError extends ServiceError {
  readonly code = 'CONFLICT';
}

/** The resources a quota limits, by the names QuotaExceededError reports. */
export const QUOTA_RESOURCES = ['DOMAINS', 'VCPUS', 'MEMORY_MIB', 'DISK_GIB', 'INTERFACES', 'PORT_FORWARDS'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

export class QuotaExceededError extends ServiceError {
  readonly code = 'QUOTA_EXCEEDED';
  constructor(
    readonly resource: QuotaResource,
    readonly limit: number,
    readonly used: number,
    readonly requested: number,
  ) {
    super(`quota exceeded for ${resource}: limit ${limit}, in use ${used}, requested ${requested}`);
  }
}

/** The object is still in use by others (e.g. a user who owns domains). */
export class InUseError extends ServiceError {
  readonly code = 'IN_USE';
}

/** A per-token limit on server resources (e.g. open subscriptions) is reached. */
export class LimitExceededError extends ServiceError {
  readonly code = 'LIMIT_EXCEEDED';
}

/** No free address is left in a network's pool; nothing was allocated. */
export class AddressExhaustedError extends ServiceError {
  readonly code = 'ADDRESS_EXHAUSTED';
}

export class UnsupportedError extends ServiceError {
  readonly code = 'UNSUPPORTED';
}

export class LibvirtUnavailableError extends ServiceError {
  readonly code = 'LIBVIRT_UNAVAILABLE';
  constructor(message = 'libvirt is not reachable right now; try again shortly') {
    super(message);
  }
}

/**
 * The server cannot write its database (disk full, read-only, I/O errors): a mutation is refused before
 * anything is done, since nothing may happen in libvirt without its record.
 */
export class StorageUnavailableError extends ServiceError {
  readonly code = 'STORAGE_UNAVAILABLE';
  constructor(reason: string) {
    super(`the server cannot write its database right now (${reason}); nothing was changed: try again once an operator has freed space`);
  }
}

/** No host takes a new guest now (all draining or down); nothing was reserved. */
export class NoHostAvailableError extends ServiceError {
  readonly code = 'NO_HOST_AVAILABLE';
}

/** A libvirt failure with no more specific meaning; libvirt's own message is kept. */
export class LibvirtFailedError extends ServiceError {
  readonly code = 'LIBVIRT_ERROR';
}

/** Maps a libvirt failure onto the error a user sees, keeping libvirt's message. */
export function fromLibvirt(err: unknown, subject?: { kind: string; id: string }): Error {
  if (!(err instanceof LibvirtError)) return err as Error;
  switch (err.kind) {
    case 'NOT_FOUND':
      return subject ? new NotFoundError(subject.kind, subject.id) : new LibvirtFailedError(err.message);
    case 'INVALID_STATE':
      return new InvalidStateError(err.message);
    case 'INVALID_ARGUMENT':
      return new ValidationError(err.message);
    case 'CONFLICT':
      // libvirt names the UUID of the object in the way; that object may be another tenant's.
      return new ConflictError(err.message.replace(/\s*with uuid [0-9a-f-]{36}/gi, ''));
    case 'UNSUPPORTED':
      return new UnsupportedError(err.message);
    case 'UNAVAILABLE':
      return new LibvirtUnavailableError();
    default:
      return new LibvirtFailedError(err.message);
  }
}
