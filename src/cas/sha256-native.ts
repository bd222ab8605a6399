import { endianness } from 'node:os';
import { join } from 'node:path';

/** The addon of native/sha256 (see the comment at the top of sha256.c). */
export interface Sha256Addon {
  /** Byte offsets of OpenSSL's SHA256_CTX fields, and its size. */
  layout(): Sha256CtxLayout;
  init(): Buffer;
  update(state: Buffer, bytes: Uint8Array): void;
  /**
   * update on a thread of libuv's pool, of one run of bytes or several in order; neither the
   * state nor the bytes (nor their array) may be touched until it settles.
   */
  updateAsync(state: Buffer, bytes: Uint8Array | readonly Uint8Array[]): Promise<void>;
  digest(state: Buffer): Buffer;
}

export interface Sha256CtxLayout {
  readonly size: number;
  readonly h: number;
  readonly Nl: number;
  readonly Nh: number;
  readonly data: number;
  readonly num: number;
  readonly md_len: number;
}

/** Built by `npm run build:native`; the same path from dist/cas and src/cas. */
const SHA256_ADDON_PATH = join(__dirname, '../../native/sha256/build/Release/sha256.node');

let loaded: { addon: Sha256Addon } | { reason: string } | undefined;

/** The addon, or why this process cannot use it (then the WebAssembly SHA-256 does the work). */
export function loadSha256Addon(): { addon: Sha256Addon } | { reason: string } {
  if (loaded) return loaded;
  try {
    const addon = require(SHA256_ADDON_PATH) as Sha256Addon;
    const layout = addon.layout();
    if (layout.md_len + 4 > layout.size || layout.data + 64 > layout.size)
      throw new Error(`unexpected SHA256_CTX layout ${JSON.stringify(layout)}`);
    loaded = { addon };
  } catch (error) {
    loaded = { reason: `the sha256 addon did not load: ${(error as Error).message}` };
  }
  return loaded;
}

/**
 * The saved form of a running SHA-256, as PostgreSQL keeps it between an upload's parts: the
 * state hash-wasm's save() writes, so states saved before the native hasher existed, and by a
 * process where it cannot load, continue in either. 116 bytes:
 *
 *   0..4     hash-wasm's tag of its SHA-256 build (checked on load)
 *   4..68    the bytes of the block not yet compressed (the first length % 64 count)
 *   68..76   bytes hashed so far, little-endian u64
 *   76..108  the eight working words H0..H7, little-endian u32
 *   108..112 the digest length, 32, little-endian u32
 *   112..116 zero
 */
export const SAVED_STATE_LENGTH = 116;

const LE = endianness() === 'LE';

/** OpenSSL's SHA256_CTX (in the addon's layout) from a saved state whose tag is `tag`. */
export function ctxFromSaved(saved: Uint8Array, layout: Sha256CtxLayout, tag: Uint8Array): Buffer {
  if (saved.length !== SAVED_STATE_LENGTH)
    throw new Error(`Bad state length (expected ${SAVED_STATE_LENGTH} bytes, got ${saved.length})`);
  if (!tag.every((b, i) => saved[i] === b))
    throw new Error('This state was written by an incompatible hash implementation');
  const view = new DataView(saved.buffer, saved.byteOffset, saved.byteLength);
  const length = view.getBigUint64(68, true);
  const digestLength = view.getUint32(108, true);
  if (digestLength !== 32 || length >= 1n << 61n)
    throw new Error('This state is not a SHA-256 state');
  const ctx = Buffer.alloc(layout.size);
  const out = new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength);
  for (let i = 0; i < 8; i++) out.setUint32(layout.h + 4 * i, view.getUint32(76 + 4 * i, true), LE);
  const bits = length * 8n;
  out.setUint32(layout.Nl, Number(bits & 0xffffffffn), LE);
  out.setUint32(layout.Nh, Number(bits >> 32n), LE);
  const num = Number(length % 64n);
  ctx.set(saved.subarray(4, 4 + num), layout.data);
  out.setUint32(layout.num, num, LE);
  out.setUint32(layout.md_len, 32, LE);
  return ctx;
}

/** The saved state (tagged `tag`) of OpenSSL's SHA256_CTX in the addon's layout. */
export function savedFromCtx(ctx: Uint8Array, layout: Sha256CtxLayout, tag: Uint8Array): Buffer {
  if (ctx.length !== layout.size) throw new Error(`a SHA256_CTX has ${layout.size} bytes`);
  const view = new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength);
  const bits =
    (BigInt(view.getUint32(layout.Nh, LE)) << 32n) | BigInt(view.getUint32(layout.Nl, LE));
  const length = bits / 8n;
  const num = view.getUint32(layout.num, LE);
  if (num !== Number(length % 64n)) throw new Error('inconsistent SHA256_CTX');
  const saved = Buffer.alloc(SAVED_STATE_LENGTH);
  saved.set(tag.subarray(0, 4), 0);
  saved.set(ctx.subarray(layout.data, layout.data + num), 4);
  const out = new DataView(saved.buffer, saved.byteOffset, saved.byteLength);
  out.setBigUint64(68, length, true);
  for (let i = 0; i < 8; i++) out.setUint32(76 + 4 * i, view.getUint32(layout.h + 4 * i, LE), true);
  out.setUint32(108, 32, true);
  return saved;
}
