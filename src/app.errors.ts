import { ALIASES_ERRORS } from './aliases/aliases.errors';
import { AUTH_ERRORS } from './auth/auth.errors';
import { CAS_ERRORS } from './cas/cas.errors';
import { CATALOG_ERRORS } from './catalog/catalog.errors';
import { registerErrors } from './common/errors/error-registry';
import { EVENTS_ERRORS } from './events/events.errors';
import { MIRROR_ERRORS } from './mirror/mirror.errors';
import { PROVENANCE_ERRORS } from './provenance/provenance.errors';
import { PUBLISH_ERRORS } from './publish/publish.errors';

/**
 * The error codes of every feature, registered with the problem writer as this file loads: the
 * application and the maintenance commands import it with their module lists (src/app.modules.ts),
 * so common/ never imports a feature.
 */
export const FEATURE_ERRORS = [
  AUTH_ERRORS,
  ALIASES_ERRORS,
  CAS_ERRORS,
  CATALOG_ERRORS,
  PUBLISH_ERRORS,
  EVENTS_ERRORS,
  PROVENANCE_ERRORS,
  MIRROR_ERRORS,
] as const;

registerErrors(...FEATURE_ERRORS);
