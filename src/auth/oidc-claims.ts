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

/** Issuer URLs are compared without a trailing slash. */
export function normalizeIssuer(url: string): string {
  return url.replace(/\/+$/, '');
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Issuers must be https; plain http is accepted only for loopback hosts and only when the
 * (test-only) setting allows it. Returns a reason when refused.
 */
export function issuerUrlProblem(url: string, allowInsecureLoopback: boolean): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.username || u.password || u.search || u.hash)
    return 'must not carry credentials, a query or a fragment';
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && allowInsecureLoopback && LOOPBACK_HOSTS.has(u.hostname))
    return null;
  return 'must be an https URL';
}
