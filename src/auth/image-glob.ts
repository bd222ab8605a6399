/**
 * Glob patterns over image names: `*` matches any run of characters, `?` exactly one; everything
 * else is literal. Image names cannot contain `/`, so there is no path semantics to mind.
 */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

export function globMatches(pattern: string, value: string): boolean {
  return globToRegExp(pattern).test(value);
}
