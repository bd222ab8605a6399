import { createHash } from 'node:crypto';

/** A digest as imgsrv writes it: `sha256:` and 64 lowercase hex digits. */
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST_PATTERN.test(value);
}

/** The 64 hex digits of a valid digest. */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return digest.slice('sha256:'.length);
}

export function digestOfHex(hex: string): string {
  return `sha256:${hex}`;
}

/** sha256 of some bytes, as a digest string (tests and small payloads). */
export function sha256Digest(data: Uint8Array | string): string {
  return digestOfHex(createHash('sha256').update(data).digest('hex'));
}

/**
 * The object key of a trusted blob: `cas/sha256/ab/cd/<hex>`. Derived from the digest alone, so
 * two uploads of the same bytes meet at one key (the migration checks the same derivation).
 */
export function casKeyOf(digest: string): string {
  const hex = digestHex(digest);
  return `cas/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`;
}

export type ContentDigest =
  | { readonly kind: 'absent' }
  | { readonly kind: 'sha256'; readonly bytes: Buffer }
  | { readonly kind: 'malformed'; readonly reason: string };

/**
 * Parses an RFC 9530 `Content-Digest` field (`sha-256=:<base64>:`, possibly beside other
 * algorithms). Algorithms other than sha-256 are ignored, as the RFC allows; a field that is not a
 * well-formed dictionary, or whose sha-256 value is not 32 bytes of base64, is malformed.
 */
export function parseContentDigest(field: string | null | undefined): ContentDigest {
  if (field === undefined || field === null || field.trim() === '') return { kind: 'absent' };
  let found: Buffer | undefined;
  for (const member of field.split(',')) {
    const m = /^\s*([a-z][a-z0-9_.*-]*)\s*=\s*:([A-Za-z0-9+/]*={0,2}):\s*$/.exec(member);
    if (!m) return { kind: 'malformed', reason: 'expected sha-256=:<base64>:' };
    if (m[1] !== 'sha-256') continue;
    const bytes = Buffer.from(m[2], 'base64');
    if (bytes.length !== 32 || bytes.toString('base64') !== m[2]) {
      return { kind: 'malformed', reason: 'the sha-256 value must be 32 bytes in base64' };
    }
    found = bytes;
  }
  return found ? { kind: 'sha256', bytes: found } : { kind: 'absent' };
}
