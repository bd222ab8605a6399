import type { Actor } from '../auth/actor';

/** One mutation to record; written in the same transaction as the mutation itself. */
export interface AuditEventInput {
  readonly actor: Actor;
  /** Dotted verb: `upload.begin`, `image.create`, `api_token.revoke`, `alias.move`. */
  readonly action: string;
  /** `upload_session`, `cas_blob`, `image`, `image_version`, `principal`, `api_token`, `alias`. */
  readonly targetType: string;
  readonly targetId: string | null;
  readonly imageName?: string | null;
  /** Small, secret-free facts worth keeping (digest, size, old and new version). */
  readonly detail?: Readonly<Record<string, unknown>>;
}
