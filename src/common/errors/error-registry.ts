/** What a code answers with. */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
}

/** A module's error codes: `<MODULE>_ERRORS` in its `*.errors.ts`. */
export type ErrorTable = Readonly<Record<string, ErrorSpec>>;

/** The codes of the framework and the HTTP layer, which belong to no feature. */
export const COMMON_ERRORS = {
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
} as const satisfies ErrorTable;

/**
 * The codes features add. Each `*.errors.ts` extends this interface (module augmentation) with
 * its table's keys, so DomainError accepts exactly the registered codes and this module imports
 * no feature.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by augmentation
export interface FeatureErrorCodes {}

/** Every stable error code imgsrv answers with. */
export type ErrorCode = keyof typeof COMMON_ERRORS | keyof FeatureErrorCodes;

const registry = new Map<string, ErrorSpec>(Object.entries(COMMON_ERRORS));

/**
 * Adds the features' error tables. The application's composition does it once, as it loads
 * (src/app.errors.ts); a code registered twice must mean the same.
 */
export function registerErrors(...tables: ErrorTable[]): void {
  for (const table of tables)
    for (const [code, spec] of Object.entries(table)) {
      const known = registry.get(code);
      if (known && (known.status !== spec.status || known.title !== spec.title))
        throw new Error(`error code ${code} is registered twice with different meanings`);
      registry.set(code, spec);
    }
}

/** The status and title of a code; a code nobody registered is a composition bug. */
export function errorSpec(code: ErrorCode): ErrorSpec {
  const spec = registry.get(code);
  if (!spec) throw new Error(`error code ${code} is not registered (src/app.errors.ts)`);
  return spec;
}

/** Every registered code, for checks that the composition is complete. */
export function registeredErrorCodes(): string[] {
  return [...registry.keys()];
}

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
