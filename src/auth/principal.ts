import type { Action, RoleId } from './actions';
import { BUILT_IN_ROLES, IMAGE_BOUND_ACTIONS } from './actions';
import { globMatches } from './image-glob';

export interface Grant {
  readonly roleId: RoleId;
  /** Glob patterns over image names; `["*"]` is every image. */
  readonly images: readonly string[];
}

/**
 * Who is calling, and what they may do. Services receive it to decide visibility (for example
 * drafts need content.read) and to record who did what; they never look at HTTP headers.
 */
export class Principal {
  constructor(
    readonly id: string,
    readonly kind: 'user' | 'service',
    readonly displayName: string,
    readonly grants: readonly Grant[],
    /** The API token or OIDC subject this request authenticated with, for the audit log. */
    readonly via: { readonly type: 'api_token' | 'oidc'; readonly id: string },
  ) {}

  /**
   * May this principal perform `action`? For an image-bound action with `image` given, a grant
   * whose scope matches that image is needed; without `image` (uploads, lists), any scope will do.
   */
  can(action: Action, image?: string): boolean {
    return this.grants.some((g) => {
      const actions: readonly Action[] = BUILT_IN_ROLES[g.roleId];
      if (!actions.includes(action)) return false;
      if (image === undefined || !IMAGE_BOUND_ACTIONS.has(action)) return true;
      return g.images.some((pattern) => globMatches(pattern, image));
    });
  }
}
