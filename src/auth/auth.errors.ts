/** Error codes of the auth module (merged into ERROR_REGISTRY). */
export const AUTH_ERRORS = {} as const satisfies Record<string, { status: number; title: string }>;
