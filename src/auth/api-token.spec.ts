import { generateApiToken, hashSecret, parseApiToken, secretMatches } from './api-token';

describe('API tokens', () => {
  it('generates tokens in the documented format with a 256-bit secret', () => {
    const t = generateApiToken();
    expect(t.plaintext).toMatch(/^imgsrv_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(t.secret, 'base64url')).toHaveLength(32);
    expect(parseApiToken(t.plaintext)).toEqual({ id: t.id, secret: t.secret });
  });

  it('never generates the same token twice in a run', () => {
    const ids = new Set(Array.from({ length: 200 }, () => generateApiToken().plaintext));
    expect(ids.size).toBe(200);
  });

  it.each([
    '',
    'imgsrv_',
    'imgsrv_short_x',
    `imgsrv_${'a'.repeat(16)}_${'b'.repeat(42)}`,
    `Imgsrv_${'a'.repeat(16)}_${'b'.repeat(43)}`,
  ])('rejects the malformed token %j', (token) => expect(parseApiToken(token)).toBeNull());

  it('matches a secret only against its own hash', () => {
    const t = generateApiToken();
    expect(secretMatches(t.secret, hashSecret(t.secret))).toBe(true);
    expect(secretMatches(generateApiToken().secret, hashSecret(t.secret))).toBe(false);
  });
});
