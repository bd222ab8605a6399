/**
 * Upload session states (docs/uploads.md): created → uploading → completed → verifying → ready | failed;
 * aborted and expired end an open session (abort also a stalled verification: isStalled).
 * `completed` means the parts list is frozen and no verifier has claimed the session yet;
 * `verifying` means one has (and may have crashed: its lease then expires and another verifier
 * takes over).
 */
export const UPLOAD_STATES = [
  'created',
  'uploading',
  'completed',
  'verifying',
  'ready',
  'failed',
  'aborted',
  'expired',
] as const;

export type UploadState = (typeof UPLOAD_STATES)[number];

/** States that accept parts (and abort). */
export const OPEN_STATES: readonly UploadState[] = ['created', 'uploading'];
/** States whose verification is pending or running. */
export const VERIFYING_STATES: readonly UploadState[] = ['completed', 'verifying'];
/** States after which nothing happens to the session any more; its staging can go. */
export const TERMINAL_STATES: readonly UploadState[] = ['ready', 'failed', 'aborted', 'expired'];
/** Sessions that still cite their digest as work in progress (GC keeps the blob). */
export const ACTIVE_STATES: readonly UploadState[] = [...OPEN_STATES, ...VERIFYING_STATES];

const NEXT: Record<UploadState, readonly UploadState[]> = {
  created: ['uploading', 'completed', 'failed', 'aborted', 'expired'],
  uploading: ['completed', 'failed', 'aborted', 'expired'],
  completed: ['verifying', 'ready', 'failed'],
  verifying: ['ready', 'failed', 'aborted'],
  ready: [],
  failed: [],
  aborted: [],
  expired: [],
};

export function canMove(from: UploadState, to: UploadState): boolean {
  return NEXT[from].includes(to);
}

export function isOpen(state: UploadState): boolean {
  return OPEN_STATES.includes(state);
}

export function isTerminal(state: UploadState): boolean {
  return TERMINAL_STATES.includes(state);
}

/**
 * A verification the blob store could not finish for lack of space: it stays `verifying` with a
 * failure message saying so (workers retry it once space returns), and abort may end it.
 */
export function isStalled(state: UploadState, failureMessage: string | null): boolean {
  return state === 'verifying' && failureMessage !== null;
}

/**
 * The state a client sees: an open session past its expiry is expired even before the sweeper
 * has written it down.
 */
export function effectiveState(state: UploadState, expiresAt: Date, now: Date): UploadState {
  return isOpen(state) && expiresAt.getTime() <= now.getTime() ? 'expired' : state;
}
