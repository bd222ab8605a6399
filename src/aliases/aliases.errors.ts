import type { ErrorTable } from '../common/errors/error-registry';

/** Error codes of the aliases module (registered by src/app.errors.ts). */
export const ALIASES_ERRORS = {
  ALIAS_NOT_FOUND: { status: 404, title: 'No such alias' },
  ALIAS_TARGET_NOT_PUBLISHED: { status: 409, title: 'Aliases point only to published versions' },
  ALIAS_PRECONDITION_FAILED: { status: 412, title: 'The alias changed since you read it' },
} as const satisfies ErrorTable;

declare module '../common/errors/error-registry' {
  interface FeatureErrorCodes extends Record<keyof typeof ALIASES_ERRORS, true> {}
}
