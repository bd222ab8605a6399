import type { ErrorCode } from './error-registry';

export interface FieldError {
  /** JSON Pointer (RFC 6901) into the request: `/expected_digest`, `/parts/2/etag`, `/query/limit`. */
  readonly pointer: string;
  readonly detail: string;
}

/**
 * An expected failure of a use case, with a stable code. Services throw it and know nothing of
 * HTTP; the problem writer maps the code to a status through the error registry.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extensions: Readonly<Record<string, unknown>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
    this.name = 'DomainError';
  }

  static validation(errors: readonly FieldError[], detail?: string): DomainError {
    return new DomainError(
      'VALIDATION_FAILED',
      detail ?? errors.map((e) => `${e.pointer}: ${e.detail}`).join('; '),
      { errors },
    );
  }
}
