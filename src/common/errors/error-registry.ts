import { ALIASES_ERRORS } from '../../aliases/aliases.errors';
import { AUTH_ERRORS } from '../../auth/auth.errors';
import { CAS_ERRORS } from '../../cas/cas.errors';
import { CATALOG_ERRORS } from '../../catalog/catalog.errors';
import { EVENTS_ERRORS } from '../../events/events.errors';
import { PUBLISH_ERRORS } from '../../publish/publish.errors';

/**
 * Every stable error code imgsrv answers with, and its HTTP status and title. DomainError only
 * accepts keys of this object, so a code without an entry does not compile.
 */
export const ERROR_REGISTRY = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  BAD_REQUEST: { status: 400, title: 'The request is malformed' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  FORBIDDEN: { status: 403, title: 'Not allowed' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  NOT_ACCEPTABLE: { status: 406, title: 'Not acceptable' },
  CONFLICT: { status: 409, title: 'Conflict with the current state' },
  LENGTH_REQUIRED: { status: 411, title: 'Content-Length is required' },
  PRECONDITION_FAILED: { status: 412, title: 'A precondition failed' },
  BODY_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'The range cannot be satisfied' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  URI_TOO_LONG: { status: 414, title: 'The request target is too long' },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  EXPECTATION_FAILED: { status: 417, title: 'The expectation cannot be met' },
  TOO_MANY_REQUESTS: { status: 429, title: 'Too many requests' },
  INTERNAL_ERROR: { status: 500, title: 'Internal server error' },
  DEPENDENCY_UNAVAILABLE: { status: 503, title: 'A dependency is unavailable' },
  NOT_READY: { status: 503, title: 'The service is not ready' },
  ...AUTH_ERRORS,
  ...ALIASES_ERRORS,
  ...CAS_ERRORS,
  ...CATALOG_ERRORS,
  ...PUBLISH_ERRORS,
  ...EVENTS_ERRORS,
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_REGISTRY;

/** The problem `type` URI of a code: stable, never dereferenced. */
export function problemType(code: ErrorCode): string {
  return `urn:imgsrv:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  411: 'LENGTH_REQUIRED',
  412: 'PRECONDITION_FAILED',
  413: 'BODY_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  416: 'RANGE_NOT_SATISFIABLE',
  417: 'EXPECTATION_FAILED',
  429: 'TOO_MANY_REQUESTS',
  431: 'HEADERS_TOO_LARGE',
  503: 'DEPENDENCY_UNAVAILABLE',
};

/** The generic code of a status, for errors raised by the framework rather than our services. */
export function codeForStatus(status: number): ErrorCode {
  return BY_STATUS[status] ?? (status >= 400 && status < 500 ? 'BAD_REQUEST' : 'INTERNAL_ERROR');
}
