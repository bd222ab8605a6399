import type { ErrorTable } from '../common/errors/error-registry';

/** Error codes of the provenance module (registered by src/app.errors.ts). */
export const PROVENANCE_ERRORS = {
  PROVENANCE_NOT_FOUND: { status: 404, title: 'The version has no publication record' },
  LOG_RANGE: { status: 400, title: 'Outside the transparency log' },
  TILE_NOT_FOUND: { status: 404, title: 'No such tile in the transparency log' },
} as const satisfies ErrorTable;

declare module '../common/errors/error-registry' {
  interface FeatureErrorCodes extends Record<keyof typeof PROVENANCE_ERRORS, true> {}
}
