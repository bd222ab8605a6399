import type { LookupAddress, LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { canonicalHost } from '../common/net/canonical-host';
import { isInternalAddress, isInternalHost, isLoopbackHost } from './internal-address';

/** What decides whether an issuer (or JWKS) URL may be fetched. */
export interface IssuerUrlPolicy {
  /** Accept http:// on loopback hosts (tests only). */
  readonly oidcAllowInsecureLoopback: boolean;
  /** Hosts (WHATWG `hostname` form, see canonicalHost) allowed although internal. */
  readonly oidcAllowedIssuerHosts: readonly string[];
}

export type ParsedUrl = { readonly url: string; readonly hostname: string } | { problem: string };

/**
 * Parses an issuer URL and writes it in the one form rules store and tokens are compared in:
 * WHATWG-normalised (lower-case host, numeric hosts canonical, no default port, dot segments
 * resolved), no trailing dot on the host, no trailing slash. Credentials, a query or a
 * fragment are refused rather than dropped: they would change what the URL means.
 */
export function parseIssuerUrl(raw: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { problem: 'must be an absolute URL' };
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return { problem: 'must be an https URL' };
  if (u.username || u.password || u.search || u.hash)
    return { problem: 'must not carry credentials, a query or a fragment' };
  const hostname = canonicalHost(u.hostname);
  if (hostname === null) return { problem: 'must name a valid host' };
  const port = u.port === '' ? '' : `:${u.port}`;
  const path = u.pathname.replace(/\/+$/, '');
  return { url: `${u.protocol}//${hostname}${port}${path}`, hostname };
}

/** Whether an internal host may be used anyway because the operator listed it. */
export function hostAllowed(hostname: string, policy: IssuerUrlPolicy): boolean {
  return policy.oidcAllowedIssuerHosts.includes(hostname);
}

/**
 * Issuers (and the JWKS they point to) must be https and must not name an internal address
 * (loopback, link-local, private, unique-local, unspecified, localhost) unless the host is
 * listed in IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS; plain http only on loopback with the test-only
 * setting. Returns the normalised URL, or the reason it is refused. Names that only resolve
 * to an internal address are caught when they are connected to (internalAddressGuard).
 */
export function checkIssuerUrl(raw: string, policy: IssuerUrlPolicy): ParsedUrl {
  const parsed = parseIssuerUrl(raw);
  if ('problem' in parsed) return parsed;
  const { hostname } = parsed;
  const insecureOk =
    parsed.url.startsWith('http:') && policy.oidcAllowInsecureLoopback && isLoopbackHost(hostname);
  if (!parsed.url.startsWith('https:') && !insecureOk) return { problem: 'must be an https URL' };
  if (isInternalHost(hostname) && !hostAllowed(hostname, policy))
    return {
      problem:
        'must not name an internal address (loopback, link-local, private, localhost) ' +
        'unless IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS lists it',
    };
  return parsed;
}

/** An error of the connect step: the name resolved to an internal address. */
export class InternalAddressError extends Error {
  readonly code = 'EIMGSRVINTERNAL';
}

/** dns.lookup with `all: true`, or a stand-in for tests. */
export type LookupAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for net/tls.connect that refuses a name when any address it resolves to is
 * internal and neither the name nor that address is allowed. Checking the address that is
 * connected to, not an earlier resolution, leaves no window for DNS rebinding.
 */
export function internalAddressGuard(policy: IssuerUrlPolicy, lookup: LookupAll): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const name = canonicalHost(hostname);
      const nameAllowed = name !== null && hostAllowed(name, policy);
      const refused = addresses.find(
        ({ address }) =>
          !nameAllowed &&
          isInternalAddress(address) &&
          !hostAllowed(canonicalHost(address) ?? '', policy),
      );
      if (refused)
        return callback(
          new InternalAddressError(`${hostname} resolves to internal address ${refused.address}`),
          [],
        );
      if (addresses.length === 0) return callback(new Error(`${hostname} has no address`), []);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
