/** Error codes of the publish module (merged into ERROR_REGISTRY). */
export const PUBLISH_ERRORS = {
  VERSION_NOT_PUBLISHABLE: { status: 409, title: 'The version cannot be published as it is' },
  PUBLISH_JOB_NOT_FOUND: { status: 404, title: 'No such publish job' },
  PUBLISH_JOB_STATE_CONFLICT: {
    status: 409,
    title: 'The publish job is not in a state that allows this',
  },
} as const satisfies Record<string, { status: number; title: string }>;
