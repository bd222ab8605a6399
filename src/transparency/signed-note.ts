import { createHash, sign, verify, type KeyObject } from 'node:crypto';

/**
 * C2SP signed notes with Ed25519 signatures, and the tlog-checkpoint note text they carry.
 * A note is text ending in a newline, a blank line, then lines `— <key name> base64(key id ‖ sig)`.
 */

const ED25519_TYPE = 0x01;
const EM_DASH = '\u2014';

/** Whether text holds an ASCII control character (newline allowed when `newlines`). */
function hasControl(text: string, newlines: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && !(newlines && c === 0x0a)) return true;
  }
  return false;
}

/** The raw 32-byte Ed25519 public key of a key object. */
export function ed25519Raw(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new TypeError('not an Ed25519 public key');
  return Buffer.from(jwk.x, 'base64url');
}

/**
 * SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key): its first four bytes are the note key ID;
 * whole, it is the log's id in Sigstore bundles.
 */
export function noteKeyHash(name: string, publicKey: KeyObject): Buffer {
  return createHash('sha256')
    .update(Buffer.from(`${name}\n`, 'utf8'))
    .update(Buffer.from([ED25519_TYPE]))
    .update(ed25519Raw(publicKey))
    .digest();
}

/** key ID = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4] */
export function noteKeyId(name: string, publicKey: KeyObject): Buffer {
  return noteKeyHash(name, publicKey).subarray(0, 4);
}

/** The id imgsrv gives a public key: hex SHA-256 of its SPKI DER (DSSE keyid, bundle hint). */
export function publicKeyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** A key name as the note format allows it: non-empty, no spaces, no plus. */
export function validKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !hasControl(name, false);
}

export function signNote(
  text: string,
  name: string,
  privateKey: KeyObject,
  publicKey: KeyObject,
): string {
  if (!text.endsWith('\n')) throw new Error('note text ends with a newline');
  const signature = sign(null, Buffer.from(text, 'utf8'), privateKey);
  const line = Buffer.concat([noteKeyId(name, publicKey), signature]).toString('base64');
  return `${text}\n${EM_DASH} ${name} ${line}\n`;
}

export interface NoteSignature {
  readonly name: string;
  readonly keyId: Buffer;
  readonly signature: Buffer;
}

export interface ParsedNote {
  readonly text: string;
  readonly signatures: NoteSignature[];
}

/** Splits a note at its last blank line; null when it is not a signed note. */
export function parseNote(note: string): ParsedNote | null {
  if (hasControl(note, true) || !note.endsWith('\n')) return null;
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return null;
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    const match = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/u.exec(line);
    if (!match) return null;
    const bytes = Buffer.from(match[2], 'base64');
    if (bytes.length < 5) return null;
    signatures.push({ name: match[1], keyId: bytes.subarray(0, 4), signature: bytes.subarray(4) });
  }
  return signatures.length > 0 ? { text, signatures } : null;
}

/** Whether the note carries a valid signature by this key (name and key ID must both match). */
export function noteSignedBy(note: ParsedNote, name: string, publicKey: KeyObject): boolean {
  const id = noteKeyId(name, publicKey);
  return note.signatures.some(
    (s) =>
      s.name === name &&
      s.keyId.equals(id) &&
      verify(null, Buffer.from(note.text, 'utf8'), publicKey, s.signature),
  );
}

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Buffer;
}

export function checkpointText(checkpoint: Checkpoint): string {
  return `${checkpoint.origin}\n${checkpoint.size}\n${checkpoint.root.toString('base64')}\n`;
}

/** The checkpoint a note's text states, or null when the text is not one. */
export function parseCheckpointText(text: string): Checkpoint | null {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') return null;
  const [origin, size, root] = lines;
  if (origin === '' || !/^(0|[1-9][0-9]*)$/u.test(size) || !Number.isSafeInteger(Number(size)))
    return null;
  const hash = Buffer.from(root, 'base64');
  if (hash.length !== 32 || hash.toString('base64') !== root) return null;
  return { origin, size: Number(size), root: hash };
}
