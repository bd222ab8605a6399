import { createHash, verify, type KeyObject } from 'node:crypto';

/**
 * An independent reading of the transparency formats, written from RFC 9162 (§2.1: hashing and
 * the verification algorithms of §2.1.3.2 and §2.1.4.2), C2SP signed-note, tlog-checkpoint and
 * tlog-tiles, and DSSE's PAE. It shares no code with src/: the tests check the server against it.
 */

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const interior = (l: Uint8Array, r: Uint8Array) => sha256(Buffer.from([1]), l, r);

export const leafOf = (entry: Uint8Array) => sha256(Buffer.from([0]), entry);

/** MTH(D[n]) by the definition (RFC 9162 §2.1.1), from leaf hashes. */
export function treeHash(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k << 1 < leaves.length) k <<= 1;
  return interior(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}

/** RFC 9162 §2.1.3.2. */
export function inclusionHolds(
  index: number,
  size: number,
  leaf: Buffer,
  path: readonly Buffer[],
  root: Buffer,
): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = interior(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = interior(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2. */
export function consistencyHolds(
  first: number,
  second: number,
  firstRoot: Buffer,
  secondRoot: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (first === second) return proof.length === 0 && firstRoot.equals(secondRoot);
  if (first === 0) return proof.length === 0;
  if (proof.length === 0 || first > second) return false;
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = interior(c, fr);
      sr = interior(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = interior(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(firstRoot) && sr.equals(secondRoot) && sn === 0;
}

export interface ReadCheckpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Buffer;
}

/**
 * A checkpoint note verified with an Ed25519 key under a name (signed-note: key ID =
 * SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4], signature over the text before the blank line).
 * Throws with the reason when it does not verify.
 */
export function readCheckpoint(note: string, name: string, key: KeyObject): ReadCheckpoint {
  const cut = note.lastIndexOf('\n\n');
  if (cut < 0) throw new Error('no blank line before the signatures');
  const text = note.slice(0, cut + 1);
  const raw = Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');
  const id = sha256(Buffer.from(`${name}\n`), Buffer.from([1]), raw).subarray(0, 4);
  const signed = note
    .slice(cut + 2)
    .split('\n')
    .filter((l) => l !== '')
    .some((line) => {
      const [dash, who, sig] = line.split(' ');
      if (dash !== '\u2014' || who !== name) return false;
      const bytes = Buffer.from(sig, 'base64');
      return (
        bytes.subarray(0, 4).equals(id) && verify(null, Buffer.from(text), key, bytes.subarray(4))
      );
    });
  if (!signed) throw new Error(`no valid signature by ${name}`);
  const [origin, size, root] = text.split('\n');
  return { origin, size: Number(size), root: Buffer.from(root, 'base64') };
}

/** tlog-tiles index encoding: 1234067 → x001/x234/067. */
export function tileIndex(n: number): string {
  const digits = String(n).padStart(Math.ceil(String(n).length / 3) * 3, '0');
  const groups = digits.match(/.{3}/g) as string[];
  return groups.map((g, i) => (i === groups.length - 1 ? g : `x${g}`)).join('/');
}

/** Splits an entry bundle: big-endian uint16 length, then the entry, repeated. */
export function bundleEntries(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = bytes.readUInt16BE(at);
    out.push(bytes.subarray(at + 2, at + 2 + n));
    at += 2 + n;
  }
  return out;
}

/** DSSE PAE and an Ed25519 check of an envelope's signature. */
export function envelopeVerifies(
  envelope: { payload: string; payloadType: string; signatures: { sig: string }[] },
  key: KeyObject,
): boolean {
  const body = Buffer.from(envelope.payload, 'base64');
  const type = Buffer.from(envelope.payloadType);
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${body.length} `),
    body,
  ]);
  return envelope.signatures.some((s) => verify(null, pae, key, Buffer.from(s.sig, 'base64')));
}

/** RFC 8785 for plain JSON data (strings, safe integers, booleans, null, arrays, objects). */
export function jcs(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jcs).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${jcs((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}
