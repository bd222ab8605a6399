import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Sealing remotes' passwords at rest: AES-256-GCM under the configured 32-byte key, with the
 * remote's id as associated data, so a sealed value copied onto another remote's row does not
 * open. Format: `v1.<iv>.<tag>.<ciphertext>`, each base64url.
 */
const VERSION = 'v1';

export class CredentialsKey {
  private constructor(private readonly key: Buffer) {}

  /** A key file's text: 32 bytes as base64 (44 characters) or hex (64). */
  static parse(text: string): CredentialsKey {
    const trimmed = text.trim();
    const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed)
      ? Buffer.from(trimmed, 'hex')
      : Buffer.from(trimmed, 'base64');
    if (bytes.length !== 32)
      throw new Error('the credentials key must be 32 bytes, written as base64 or hex');
    return new CredentialsKey(bytes);
  }

  /** A new random key, as the text of its file. */
  static generateText(): string {
    return `${randomBytes(32).toString('base64')}\n`;
  }

  seal(plain: string, remoteId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(remoteId));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  /** The password, or an error when the value was not sealed by this key for this remote. */
  open(sealed: string, remoteId: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || body === undefined)
      throw new Error('not a sealed credential');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(remoteId));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new Error(
        'the sealed password does not open with this key (IMGSRV_MIRROR_CREDENTIALS_KEY_FILE changed?)',
      );
    }
  }
}
