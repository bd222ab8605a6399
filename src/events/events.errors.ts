import type { ErrorTable } from '../common/errors/error-registry';

/** Error codes of the events module (registered by src/app.errors.ts). */
export const EVENTS_ERRORS = {
  WEBHOOK_NOT_FOUND: { status: 404, title: 'No such webhook subscription' },
  WEBHOOK_TARGET_NOT_ALLOWED: {
    status: 400,
    title: 'The webhook URL names an internal address',
  },
  WEBHOOK_DISABLED: { status: 409, title: 'The webhook subscription is disabled' },
} as const satisfies ErrorTable;

declare module '../common/errors/error-registry' {
  interface FeatureErrorCodes extends Record<keyof typeof EVENTS_ERRORS, true> {}
}
