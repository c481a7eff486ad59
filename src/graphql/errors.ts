import {
  AddressExhaustedError,
  ConflictError,
  ERROR_CODES,
  ForbiddenError,
  InUseError,
  InvalidStateError,
  LibvirtFailedError,
  LibvirtUnavailableError,
  LimitExceededError,
  NoHostAvailableError,
  NotFoundError,
  QUOTA_RESOURCES,
  QuotaExceededError,
  ServiceError,
  StorageUnavailableError,
  UnsupportedError,
  ValidationError,
} from '../services/errors.js';
import { builder } from './builder.js';

export const ErrorCodeEnum = builder.enumType('ErrorCode', { values: ERROR_CODES });

export const ErrorInterface = builder.interfaceRef<ServiceError>('Error').implement({
  description: 'Every failure a mutation returns as data implements this.',
  fields: (t) => ({
    code: t.field({ type: ErrorCodeEnum, resolve: (e) => e.code }),
    message: t.exposeString('message'),
  }),
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function errorType(cls: new (...args: any[]) => ServiceError, name: string, description: string) {
  builder.objectType(cls, {
    name,
    description,
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof cls,
    fields: () => ({}),
  });
}

errorType(NotFoundError, 'NotFoundError', 'The object does not exist, or is not visible to you.');
errorType(InvalidStateError, 'InvalidStateError', 'The object is not in a state that allows this action.');
errorType(ForbiddenError, 'ForbiddenError', 'Your role does not allow this action.');
errorType(ConflictError, 'ConflictError', 'The change conflicts with an existing object.');
errorType(UnsupportedError, 'UnsupportedError', 'The libvirt driver in use does not support this.');
errorType(LibvirtUnavailableError, 'LibvirtUnavailableError', 'libvirt cannot be reached right now.');
errorType(LibvirtFailedError, 'LibvirtError', 'libvirt refused the request; its own message is kept.');
errorType(InUseError, 'InUseError', 'The object is still in use (a user owning domains, a network with domains on it).');
errorType(
  StorageUnavailableError,
  'StorageUnavailableError',
  'The server cannot write its database (disk full, I/O errors); nothing was changed.',
);
errorType(
  NoHostAvailableError,
  'NoHostAvailableError',
  'No host takes the guest now (draining, or no room within its capacity: a create, or a resize that grows it); nothing was reserved or changed.',
);
errorType(AddressExhaustedError, 'AddressExhaustedError', 'No free address is left; nothing was allocated.');
errorType(
  LimitExceededError,
  'LimitExceededError',
  'A limit on server resources (open uploads, unused console tickets) is reached; nothing was changed.',
);

export const QuotaResourceEnum = builder.enumType('QuotaResource', { values: QUOTA_RESOURCES });

builder.objectType(QuotaExceededError, {
  name: 'QuotaExceededError',
  description: 'The request would take you past your quota; nothing was changed.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof QuotaExceededError,
  fields: (t) => ({
    resource: t.field({ type: QuotaResourceEnum, resolve: (e) => e.resource }),
    limit: t.exposeInt('limit'),
    used: t.exposeInt('used', { description: 'Already reserved before this request.' }),
    requested: t.exposeInt('requested'),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input is invalid; `field` names the offending input field when there is one.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({ field: t.exposeString('field', { nullable: true }) }),
});

export {
  ConflictError,
  ForbiddenError,
  InUseError,
  LibvirtFailedError,
  LibvirtUnavailableError,
  LimitExceededError,
  NotFoundError,
  StorageUnavailableError,
  ValidationError,
};

/**
 * Every error a libvirt failure maps to (services/errors.ts `fromLibvirt`): each mutation that calls libvirt
 * lists them all, so an expected failure (a pool or network stopped meanwhile, say) is data, not a GraphQL error.
 */
const LIBVIRT_ERRORS = [
  NotFoundError,
  InvalidStateError,
  ValidationError,
  ConflictError,
  UnsupportedError,
  LibvirtUnavailableError,
  LibvirtFailedError,
  StorageUnavailableError,
];

type ErrorClass = new (...args: never[]) => Error;

/** `own` errors plus LIBVIRT_ERRORS, each once. */
export const withLibvirt = (...own: ErrorClass[]): ErrorClass[] => [...new Set([...own, ...LIBVIRT_ERRORS])];

/** Errors any domain lifecycle action can return. */
export const DOMAIN_ACTION_ERRORS = withLibvirt(ForbiddenError);

/** Errors of admin-only mutations on users and tokens. */
export const ADMIN_ERRORS = [
  ForbiddenError,
  NotFoundError,
  ValidationError,
  ConflictError,
  InvalidStateError,
  InUseError,
  StorageUnavailableError,
];

/** Errors creating a domain can return. */
export const CREATE_DOMAIN_ERRORS = withLibvirt(QuotaExceededError, ForbiddenError, AddressExhaustedError, NoHostAvailableError);

/** Errors resizing a domain can return. */
export const RESIZE_DOMAIN_ERRORS = withLibvirt(QuotaExceededError, ForbiddenError, NoHostAvailableError);

/** Errors network mutations can return. */
export const NETWORK_ERRORS = withLibvirt(ForbiddenError, InUseError);

/** Errors storage pool mutations can return. */
export const STORAGE_POOL_ERRORS = withLibvirt(ForbiddenError, InUseError);

/** Errors port forward mutations can return. */
export const PORT_FORWARD_ERRORS = [
  ValidationError,
  ConflictError,
  NotFoundError,
  ForbiddenError,
  InvalidStateError,
  QuotaExceededError,
  UnsupportedError,
  StorageUnavailableError,
];
