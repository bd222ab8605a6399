/**
 * The lifecycle of a version, as data. PostgreSQL enforces the same moves with a trigger
 * (image_version_guard); this is what the application asks before it moves a version, and the one
 * place a new state (a withdrawal, say) is added on the application's side.
 *
 *   draft ──begin_publishing──► publishing ──finish_publishing──► published ──withdraw──► withdrawn
 *     ▲                              │
 *     └────────back_to_draft─────────┘   (cancel of a failed or not yet started publish)
 *
 * `withdrawn` is terminal. A withdrawn version is later purged (a column, not a state): it then no
 * longer cites its blobs.
 */
export const VERSION_STATES = ['draft', 'publishing', 'published', 'withdrawn'] as const;
export type VersionState = (typeof VERSION_STATES)[number];

export const VERSION_TRANSITIONS = {
  begin_publishing: { from: 'draft', to: 'publishing' },
  finish_publishing: { from: 'publishing', to: 'published' },
  back_to_draft: { from: 'publishing', to: 'draft' },
  withdraw: { from: 'published', to: 'withdrawn' },
} as const satisfies Record<string, { from: VersionState; to: VersionState }>;

export type VersionTransition = keyof typeof VERSION_TRANSITIONS;

/** Whether a version may move from `from` to `to` (staying put is not a move). */
export function canMove(from: VersionState, to: VersionState): boolean {
  return Object.values(VERSION_TRANSITIONS).some((t) => t.from === from && t.to === to);
}

/** Only a draft's manifest and metadata change, and only a draft may be deleted. */
export function isEditable(state: VersionState): boolean {
  return state === 'draft';
}

/** What an alias may point at, and what the streams documents list. */
export function isServed(state: VersionState): boolean {
  return state === 'published';
}

/** Whether the version was published once (its record stays readable as it was published). */
export function wasPublished(state: VersionState): boolean {
  return state === 'published' || state === 'withdrawn';
}
