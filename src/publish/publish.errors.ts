import type { ErrorTable } from '../common/errors/error-registry';

/** Error codes of the publish module (registered by src/app.errors.ts). */
export const PUBLISH_ERRORS = {
  VERSION_NOT_PUBLISHABLE: { status: 409, title: 'The version cannot be published as it is' },
  PUBLISH_JOB_NOT_FOUND: { status: 404, title: 'No such publish job' },
  PUBLISH_JOB_STATE_CONFLICT: {
    status: 409,
    title: 'The publish job is not in a state that allows this',
  },
} as const satisfies ErrorTable;

declare module '../common/errors/error-registry' {
  interface FeatureErrorCodes extends Record<keyof typeof PUBLISH_ERRORS, true> {}
}
