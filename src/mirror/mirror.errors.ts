import type { ErrorTable } from '../common/errors/error-registry';

/** Error codes of the mirror module (registered by src/app.errors.ts). */
export const MIRROR_ERRORS = {
  REMOTE_NOT_FOUND: { status: 404, title: 'No such remote' },
  REMOTE_EXISTS: { status: 409, title: 'A remote of that name exists' },
  REMOTE_SYNC_RUNNING: {
    status: 409,
    title: 'The remote has a sync queued or running',
  },
  SYNC_NOT_FOUND: { status: 404, title: 'No such sync of this remote' },
  SYNC_FINISHED: { status: 409, title: 'The sync has finished' },
} as const satisfies ErrorTable;

declare module '../common/errors/error-registry' {
  interface FeatureErrorCodes extends Record<keyof typeof MIRROR_ERRORS, true> {}
}
