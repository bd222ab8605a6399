import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API tokens are `imgsrv_<id>_<secret>`: a 16-character public id (the row key, safe to log) and
 * a 256-bit random secret, base64url. Only sha256(secret) is stored: with that much entropy a
 * fast hash is enough, and verification stays cheap on every request.
 */
export const TOKEN_PATTERN = /^imgsrv_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;

export interface ParsedToken {
  readonly id: string;
  readonly secret: string;
}

export function parseApiToken(token: string): ParsedToken | null {
  const m = TOKEN_PATTERN.exec(token);
  return m ? { id: m[1], secret: m[2] } : null;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function generateApiToken(): ParsedToken & { plaintext: string } {
  const bytes = randomBytes(16);
  const id = Array.from(bytes, (b) => ID_ALPHABET[b % ID_ALPHABET.length]).join('');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, plaintext: `imgsrv_${id}_${secret}` };
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const candidate = hashSecret(secret);
  return candidate.length === storedHash.length && timingSafeEqual(candidate, storedHash);
}
