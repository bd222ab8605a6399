/** Error codes of the cas module (merged into ERROR_REGISTRY). */
export const CAS_ERRORS = {} as const satisfies Record<string, { status: number; title: string }>;
