import { CredentialsKey } from './credentials';

describe('CredentialsKey', () => {
  const key = CredentialsKey.parse(CredentialsKey.generateText());

  it('seals so that only the same key and remote open it', () => {
    const sealed = key.seal('hunter2', 'remote-a');
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('hunter2');
    expect(key.open(sealed, 'remote-a')).toBe('hunter2');
    // Fresh IV every time.
    expect(key.seal('hunter2', 'remote-a')).not.toBe(sealed);
    expect(() => key.open(sealed, 'remote-b')).toThrow(/does not open/);
    const other = CredentialsKey.parse(CredentialsKey.generateText());
    expect(() => other.open(sealed, 'remote-a')).toThrow(/does not open/);
  });

  it('refuses a tampered value and a value of another format', () => {
    const [v, iv, tag, body] = key.seal('secret', 'r').split('.');
    const flipped = Buffer.from(body, 'base64url');
    flipped[0] ^= 1;
    expect(() => key.open([v, iv, tag, flipped.toString('base64url')].join('.'), 'r')).toThrow();
    expect(() => key.open('plain text', 'r')).toThrow(/not a sealed credential/);
  });

  it('reads 32-byte keys as base64 or hex, nothing else', () => {
    expect(() => CredentialsKey.parse('ab'.repeat(32))).not.toThrow();
    expect(() => CredentialsKey.parse(Buffer.alloc(32, 7).toString('base64'))).not.toThrow();
    expect(() => CredentialsKey.parse('ab'.repeat(16))).toThrow(/32 bytes/);
    expect(() => CredentialsKey.parse('')).toThrow(/32 bytes/);
  });
});
