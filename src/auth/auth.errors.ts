/** Error codes of the auth module (merged into ERROR_REGISTRY). */
export const AUTH_ERRORS = {
  PRINCIPAL_NOT_FOUND: { status: 404, title: 'No such principal' },
  ROLE_NOT_FOUND: { status: 404, title: 'No such role' },
  GRANT_NOT_FOUND: { status: 404, title: 'The principal does not hold that role' },
  API_TOKEN_NOT_FOUND: { status: 404, title: 'No such API token' },
  OIDC_RULE_NOT_FOUND: { status: 404, title: 'No such OIDC provisioning rule' },
  LAST_AUTH_MANAGER: { status: 409, title: 'Nobody would be left to manage access' },
} as const satisfies Record<string, { status: number; title: string }>;
