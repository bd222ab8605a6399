/** Error codes of the aliases module (merged into ERROR_REGISTRY). */
export const ALIASES_ERRORS = {
  ALIAS_NOT_FOUND: { status: 404, title: 'No such alias' },
  ALIAS_TARGET_NOT_PUBLISHED: { status: 409, title: 'Aliases point only to published versions' },
  ALIAS_PRECONDITION_FAILED: { status: 412, title: 'The alias changed since you read it' },
} as const satisfies Record<string, { status: number; title: string }>;
