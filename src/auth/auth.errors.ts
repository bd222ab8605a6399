import type { ErrorTable } from '../common/errors/error-registry';

/** Error codes of the auth module (registered by src/app.errors.ts). */
export const AUTH_ERRORS = {
  PRINCIPAL_NOT_FOUND: { status: 404, title: 'No such principal' },
  ROLE_NOT_FOUND: { status: 404, title: 'No such role' },
  GRANT_NOT_FOUND: { status: 404, title: 'The principal does not hold that role' },
  API_TOKEN_NOT_FOUND: { status: 404, title: 'No such API token' },
  OIDC_RULE_NOT_FOUND: { status: 404, title: 'No such OIDC provisioning rule' },
  GRANT_EMPTY: { status: 409, title: 'The grant would cover no image' },
  LAST_AUTH_MANAGER: { status: 409, title: 'Nobody would be left to manage access' },
} as const satisfies ErrorTable;

declare module '../common/errors/error-registry' {
  interface FeatureErrorCodes extends Record<keyof typeof AUTH_ERRORS, true> {}
}
