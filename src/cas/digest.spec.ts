import { createHash } from 'node:crypto';
import { casKeyOf, digestHex, isDigest, parseContentDigest, sha256Digest } from './digest';

const HEX = 'ab'.repeat(32);

describe('digests', () => {
  it('accepts only sha256 with 64 lowercase hex digits', () => {
    expect(isDigest(`sha256:${HEX}`)).toBe(true);
    expect(isDigest(`sha256:${HEX.toUpperCase()}`)).toBe(false);
    expect(isDigest(`sha512:${HEX}`)).toBe(false);
    expect(isDigest(`sha256:${HEX}0`)).toBe(false);
    expect(isDigest(HEX)).toBe(false);
    expect(isDigest(42)).toBe(false);
  });

  it('derives the CAS key from the digest', () => {
    const digest = `sha256:0123${'f'.repeat(60)}`;
    expect(casKeyOf(digest)).toBe(`cas/sha256/01/23/0123${'f'.repeat(60)}`);
    expect(() => casKeyOf('sha256:../../etc')).toThrow(/not a sha256 digest/);
    expect(digestHex(`sha256:${HEX}`)).toBe(HEX);
  });

  it('hashes bytes into a digest', () => {
    expect(sha256Digest('abc')).toBe(
      'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('parseContentDigest', () => {
  const b64 = createHash('sha256').update('part').digest('base64');

  it('reads the sha-256 member and ignores other algorithms', () => {
    const parsed = parseContentDigest(
      `sha-512=:${Buffer.alloc(64).toString('base64')}:, sha-256=:${b64}:`,
    );
    expect(parsed).toEqual({ kind: 'sha256', bytes: Buffer.from(b64, 'base64') });
    expect(parseContentDigest(`sha-512=:${Buffer.alloc(64).toString('base64')}:`)).toEqual({
      kind: 'absent',
    });
  });

  it('treats a missing or empty field as absent', () => {
    expect(parseContentDigest(undefined)).toEqual({ kind: 'absent' });
    expect(parseContentDigest('  ')).toEqual({ kind: 'absent' });
  });

  it.each([
    ['sha-256=abc', 'not a byte sequence'],
    [`sha-256=:${b64.slice(4)}:`, 'too short'],
    ['sha-256=:!!!!:', 'not base64'],
    [`sha-256=:${b64}`, 'unterminated'],
  ])('refuses %s (%s)', (field) => {
    expect(parseContentDigest(field).kind).toBe('malformed');
  });
});
