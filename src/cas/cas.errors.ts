import type { ErrorTable } from '../common/errors/error-registry';

/** Error codes of the cas module (registered by src/app.errors.ts). */
export const CAS_ERRORS = {
  UPLOAD_NOT_FOUND: { status: 404, title: 'No such upload session' },
  BLOB_NOT_FOUND: { status: 404, title: 'No such blob' },
  UPLOAD_SIZE_CONFLICT: {
    status: 409,
    title: 'The digest is already trusted with a different size',
  },
  UPLOAD_NOT_OPEN: { status: 409, title: 'The upload session no longer accepts this request' },
  UPLOAD_ALREADY_COMPLETED: {
    status: 409,
    title: 'The upload session was completed with a different parts list',
  },
  UPLOAD_PART_NUMBER_INVALID: { status: 400, title: 'Part numbers run from 1 to 10000' },
  UPLOAD_PART_INCOMPLETE: {
    status: 400,
    title: 'The part body ended before its Content-Length',
  },
  UPLOAD_PART_MISMATCH: {
    status: 400,
    title: 'The listed parts do not match the parts received',
  },
  UPLOAD_PART_TOO_SMALL: {
    status: 400,
    title: 'Every part but the last must be at least 5 MiB',
  },
  UPLOAD_PART_TOO_LARGE: { status: 413, title: 'The part is too large' },
  BLOB_PUT_TOO_LARGE: {
    status: 413,
    title: 'The blob is larger than one request may carry; use an upload session',
  },
  BLOB_PUT_DISABLED: {
    status: 404,
    title: 'Single-request blob uploads are turned off here; use an upload session',
  },
  UPLOAD_PART_DIGEST_MISMATCH: {
    status: 422,
    title: 'The part does not match its Content-Digest',
  },
  UPLOAD_DIGEST_MISMATCH: {
    status: 422,
    title: 'The uploaded content does not match the expected digest',
  },
  UPLOAD_PARTS_SIZE_MISMATCH: {
    status: 400,
    title: 'The listed parts do not add up to the expected size',
  },
  UPLOAD_SIZE_MISMATCH: {
    status: 422,
    title: 'The uploaded content does not have the expected size',
  },
  STORAGE_FULL: { status: 507, title: 'The blob store is out of space' },
} as const satisfies ErrorTable;

declare module '../common/errors/error-registry' {
  interface FeatureErrorCodes extends Record<keyof typeof CAS_ERRORS, true> {}
}
