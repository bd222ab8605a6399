/** Error codes of the events module (merged into ERROR_REGISTRY). */
export const EVENTS_ERRORS = {
  WEBHOOK_NOT_FOUND: { status: 404, title: 'No such webhook subscription' },
  WEBHOOK_TARGET_NOT_ALLOWED: {
    status: 400,
    title: 'The webhook URL names an internal address',
  },
  WEBHOOK_DISABLED: { status: 409, title: 'The webhook subscription is disabled' },
} as const satisfies Record<string, { status: number; title: string }>;
