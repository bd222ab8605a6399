import { DomainError } from '../common/errors/domain-error';
import type { ErrorCode } from '../common/errors/error-registry';
import { CHECK_VIOLATION, pgError } from '../database/pg-errors';

const FROZEN: readonly [ErrorCode, string] = [
  'VERSION_NOT_DRAFT',
  'The version is no longer a draft; its manifest and identity are frozen.',
];

/**
 * The refusals of the catalog's guard triggers that a request can meet (a concurrent publish
 * froze the draft it was changing), by the CONSTRAINT name each raises, as the API answers them.
 * Refusals only a bug can meet (changing an identity, updating a manifest row in place) are left
 * out: they stay unexpected errors.
 */
const REFUSALS: Readonly<Record<string, readonly [ErrorCode, string]>> = {
  image_version_frozen: FROZEN,
  image_version_delete_not_draft: FROZEN,
  image_version_transition: FROZEN,
  manifest_frozen: FROZEN,
  image_version_withdraw_aliased: [
    'VERSION_ALIASED',
    'An alias points at the version; move it (move_aliases_to) to withdraw the version.',
  ],
  alias_target_not_published: [
    'ALIAS_TARGET_NOT_PUBLISHED',
    'The version is not published; aliases point only to published versions.',
  ],
};

/** The domain error a trigger refusal stands for, or undefined for any other error. */
export function lifecycleRefusal(error: unknown): DomainError | undefined {
  const { code, constraint } = pgError(error);
  if (code !== CHECK_VIOLATION || constraint === undefined) return undefined;
  const refusal = REFUSALS[constraint];
  return refusal && new DomainError(refusal[0], refusal[1]);
}
