import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/errors/domain-error';
import { unstorableText } from '../common/text';
import type { AppConfig } from '../config/app-config';

/** The largest form the pages send (a token, a CSRF token). */
export const FORM_LIMIT = 8192;
const VALUE_LIMIT = 200;

/**
 * The query parameters named in `keys`, each a single string of at most 200 characters (empty
 * ones dropped); anything else is a 400, as the API answers it.
 */
export function stringParams<K extends string>(
  query: unknown,
  keys: readonly K[],
): Partial<Record<K, string>> {
  const source = (query ?? {}) as Record<string, unknown>;
  const out: Partial<Record<K, string>> = {};
  for (const key of keys) {
    const value = source[key];
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string' || value.length > VALUE_LIMIT || unstorableText(value) !== null)
      throw DomainError.validation([
        {
          pointer: `/query/${key}`,
          detail: `must be one value of at most ${VALUE_LIMIT} characters, without NUL`,
        },
      ]);
    out[key] = value;
  }
  return out;
}

/** An HTML form's fields (application/x-www-form-urlencoded, at most 8 KiB), read with URLSearchParams. */
export async function formOf(request: FastifyRequest): Promise<URLSearchParams> {
  const type = String(request.headers['content-type'] ?? '')
    .split(';')[0]
    ?.trim()
    .toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    throw new DomainError(
      'UNSUPPORTED_MEDIA_TYPE',
      'Send the form as application/x-www-form-urlencoded.',
    );
  const body = request.body as Readable | undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  if (body && typeof body.on === 'function') {
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      size += (chunk as Buffer).length;
      // The rest stays unread: the server drains or closes after the answer (server/unread-body).
      if (size > FORM_LIMIT)
        throw new DomainError('BODY_TOO_LARGE', `A form may hold at most ${FORM_LIMIT} bytes.`);
      chunks.push(chunk as Buffer);
    }
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Whether a form post comes from this server's own pages, by the headers browsers set and pages
 * cannot: Sec-Fetch-Site, and Origin naming this host. (A client that sends neither is no
 * browser; the session's CSRF token still guards what a session may do.)
 */
export function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** The https:// address Incus hosts add as a remote: this host on the TLS listener's port. */
export function remoteUrlOf(request: FastifyRequest, config: AppConfig): string {
  const host = request.headers.host ?? 'localhost';
  // Over HTTPS, behind a TLS proxy, or on an ephemeral port (0): the host the page came from.
  if (request.protocol === 'https' || !config.http.tlsListen?.port) return `https://${host}`;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return `https://${name}:${config.http.tlsListen.port}`;
}
