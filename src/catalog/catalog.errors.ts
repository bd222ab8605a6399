import type { ErrorTable } from '../common/errors/error-registry';

/** Error codes of the catalog module (registered by src/app.errors.ts). */
export const CATALOG_ERRORS = {
  IMAGE_NOT_FOUND: { status: 404, title: 'No such image' },
  IMAGE_EXISTS: { status: 409, title: 'An image with that name exists' },
  IMAGE_NOT_EMPTY: {
    status: 409,
    title: 'The image has published versions, or a version being published',
  },
  VERSION_NOT_FOUND: { status: 404, title: 'No such version' },
  VERSION_EXISTS: { status: 409, title: 'That version exists' },
  VERSION_NOT_DRAFT: { status: 409, title: 'The version is not a draft' },
  VERSION_NOT_PUBLISHED: { status: 409, title: 'The version is not published' },
  VERSION_ALIASED: {
    status: 409,
    title: 'Aliases point at the version; name where they move (move_aliases_to)',
  },
  VERSION_WITHDRAWN: { status: 410, title: 'The version was withdrawn' },
  ARTIFACT_NOT_FOUND: { status: 404, title: 'No such artifact' },
  ARTIFACT_EXISTS: {
    status: 409,
    title: 'An artifact with that variant, OS, architecture and format exists',
  },
  ATTACHMENT_NOT_FOUND: { status: 404, title: 'No such attachment' },
  ATTACHMENT_EXISTS: { status: 409, title: 'An attachment with that name exists on the artifact' },
  REF_NOT_FOUND: { status: 404, title: 'No published version or alias by that name' },
} as const satisfies ErrorTable;

declare module '../common/errors/error-registry' {
  interface FeatureErrorCodes extends Record<keyof typeof CATALOG_ERRORS, true> {}
}
