import { isInternalAddress, isInternalHost } from '../auth/internal-address';

/**
 * Where a webhook may be sent. By default nothing internal: loopback, link-local, private,
 * unique-local, unspecified and other special-purpose addresses are refused, in the URL (an IP
 * literal in any spelling the URL parser accepts, `localhost`) and again after DNS resolution at
 * delivery time, unless the URL's host is listed in IMGSRV_WEBHOOK_ALLOWED_HOSTS.
 *
 * The address checks are auth/internal-address.ts's; this file adds what a webhook needs around
 * them (a trailing dot, the allow list, the URL's other parts).
 */

/** `localhost.` and `localhost` are one name to a resolver; the checks see it without the dot. */
function stripDot(hostname: string): string {
  return hostname.endsWith('.') && !hostname.startsWith('[') ? hostname.slice(0, -1) : hostname;
}

/** Whether the URL host (parser form) is on the allow list (canonical hosts). */
export function isAllowedHost(hostname: string, allowedHosts: readonly string[]): boolean {
  return allowedHosts.includes(stripDot(hostname));
}

export type TargetProblem =
  | { readonly kind: 'malformed'; readonly detail: string }
  | { readonly kind: 'internal'; readonly detail: string };

/**
 * What is wrong with a webhook URL, or null. Only http and https, no credentials in the URL (they
 * would show in every listing), no fragment, at most 2048 characters, and no internal host
 * literal unless allowed. Names are resolved only at delivery time.
 */
export function targetProblem(
  url: string,
  allowedHosts: readonly string[],
  onlyAllowed = false,
): TargetProblem | null {
  if (url.length > 2048) return { kind: 'malformed', detail: 'must be at most 2048 characters' };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { kind: 'malformed', detail: 'must be an absolute http or https URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return { kind: 'malformed', detail: 'must be an http or https URL' };
  if (parsed.username || parsed.password)
    return { kind: 'malformed', detail: 'must not carry a user name or password' };
  if (parsed.hash) return { kind: 'malformed', detail: 'must not carry a fragment' };
  if (parsed.hostname === '') return { kind: 'malformed', detail: 'must name a host' };
  const host = stripDot(parsed.hostname);
  if (onlyAllowed && !isAllowedHost(host, allowedHosts))
    return {
      kind: 'internal',
      detail: `${host} is not in IMGSRV_WEBHOOK_ALLOWED_HOSTS, and only those hosts may receive webhooks (IMGSRV_WEBHOOK_ONLY_ALLOWED_HOSTS)`,
    };
  if (!isAllowedHost(host, allowedHosts) && isInternalHost(host)) {
    return {
      kind: 'internal',
      detail: `${host} is an internal address (loopback, private, link-local, unique-local or unspecified); list the host in IMGSRV_WEBHOOK_ALLOWED_HOSTS to allow it`,
    };
  }
  return null;
}

/**
 * The first resolved address that may not be used for `hostname`, or null when all may. A name
 * on the allow list may resolve anywhere; otherwise every address must be public (one internal
 * address is enough to refuse: the connection could pick it).
 */
export function refusedAddress(
  hostname: string,
  addresses: readonly string[],
  allowedHosts: readonly string[],
): string | null {
  if (isAllowedHost(hostname, allowedHosts)) return null;
  return addresses.find((a) => isInternalAddress(a)) ?? null;
}
