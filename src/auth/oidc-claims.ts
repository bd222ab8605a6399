import { globMatches } from './image-glob';

/**
 * Does a token's payload satisfy every `claim → glob` condition of a rule? A string or number
 * claim must match the glob; an array claim matches when any element does; a missing claim or
 * any other type never matches.
 */
export function claimsMatch(
  conditions: Readonly<Record<string, string>>,
  payload: Readonly<Record<string, unknown>>,
): boolean {
  return Object.entries(conditions).every(([claim, glob]) => {
    const value = payload[claim];
    const candidates = Array.isArray(value) ? value : [value];
    return candidates.some(
      (v) =>
        (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') &&
        globMatches(glob, String(v)),
    );
  });
}
