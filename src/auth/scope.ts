import type { Action } from './actions';
import { BUILT_IN_ROLES } from './actions';
import { globToRegExp } from './image-glob';
import type { Principal } from './principal';

/**
 * The images a caller may perform `action` on, as the glob patterns of its grants whose role
 * includes the action (none for an anonymous caller). The one definition of a scope that lists,
 * queries and caches filter by; `Principal.can` decides for a single image.
 */
export function scopeGlobs(principal: Principal | null, action: Action): string[] {
  return (principal?.grants ?? [])
    .filter((g) => (BUILT_IN_ROLES[g.roleId] as readonly Action[]).includes(action))
    .flatMap((g) => g.images);
}

/** The same scope as regular-expression sources, for PostgreSQL's `~` over image names. */
export function scopePatterns(principal: Principal | null, action: Action): string[] {
  return scopeGlobs(principal, action).map((p) => globToRegExp(p).source);
}

/**
 * The same scope as a cache key: its distinct patterns, sorted; `*` when one of them is every
 * image. Two callers with the same key may read exactly the same images.
 */
export function scopeKey(principal: Principal | null, action: Action): string {
  const globs = new Set(scopeGlobs(principal, action));
  return globs.has('*') ? '*' : [...globs].sort().join('\n');
}
