import { isIPv6 } from 'node:net';

/**
 * A host name or address in the form URL parsing gives it: lower case, numeric IPv4 spellings
 * (`2130706433`, `0x7f.1`) as dotted decimal, IPv6 compressed in brackets (an unbracketed IPv6
 * address is accepted), no trailing dot, surrounding whitespace ignored. Null when `text` is not a
 * bare host: a port (even a scheme's default), credentials, a path or query, empty labels.
 *
 * The one form allow lists (IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS, IMGSRV_WEBHOOK_ALLOWED_HOSTS) and
 * the hosts checked against them are compared in.
 */
export function canonicalHost(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const bracketed = isIPv6(trimmed) ? `[${trimmed}]` : trimmed;
  // A port (even the scheme's default, which the parser drops) is not part of a host.
  if (/:\d*$/.test(bracketed.replace(/^\[[^\]]*\]/, ''))) return null;
  let hostname: string;
  try {
    const u = new URL(`http://${bracketed}/`);
    if (u.username || u.password || u.port || u.pathname !== '/' || u.search || u.hash) return null;
    hostname = u.hostname;
  } catch {
    return null;
  }
  if (hostname.endsWith('.') && !hostname.startsWith('[')) {
    // One trailing dot is the same DNS name; re-parse, since `1.2.3.4..` is an address then.
    return hostname.endsWith('..') ? null : canonicalHost(hostname.slice(0, -1));
  }
  if (hostname === '' || hostname.startsWith('.') || hostname.includes('..')) return null;
  return hostname;
}
