/**
 * Glob patterns over image names (and OIDC claim values): `*` matches any run of characters, `?`
 * exactly one; everything else is literal. Image names cannot contain `/`, so there is no path
 * semantics to mind.
 */

/** How many `*` a pattern may hold: enough for any real scope, few enough to stay cheap. */
export const MAX_GLOB_STARS = 16;

/** Does the pattern hold more `*` than MAX_GLOB_STARS? Refused where patterns are created. */
export function globTooComplex(pattern: string): boolean {
  let stars = 0;
  for (const c of pattern) if (c === '*' && ++stars > MAX_GLOB_STARS) return true;
  return false;
}

/**
 * The pattern as a regular expression, for PostgreSQL's regex engine (which does not backtrack
 * the way JavaScript's does). Never use it to match in JavaScript: `globMatches` does that.
 */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

/**
 * Matches in at most O(pattern × value) steps whatever the pattern: on a mismatch it goes back
 * only to the last `*`, one character further, never to earlier ones (a backtracking `.*` per
 * star made `*-*-*-*-*-*-x` take about a second on a 128-character name).
 */
export function globMatches(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  let star = -1; // pattern index of the last `*` seen
  let resume = 0; // value index that star's run ends at, so far
  while (v < value.length) {
    const c = pattern[p];
    if (c === '*') {
      star = p++;
      resume = v;
    } else if (p < pattern.length && (c === '?' || c === value[v])) {
      p++;
      v++;
    } else if (star >= 0) {
      p = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
