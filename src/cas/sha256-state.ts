import { createHash, type Hash } from 'node:crypto';
import { createSHA256, type IHasher } from 'hash-wasm';

/** A SHA-256 in progress. */
export interface RunningSha256 {
  update(chunk: Uint8Array): void;
  /** The digest as 64 hex digits; the hasher is finished afterwards. */
  hex(): string;
}

/**
 * A SHA-256 whose state can be saved and later resumed, in another process if need be: the
 * running hash of an upload lives in PostgreSQL between parts (hash-wasm's save()/load(); the
 * state is ~116 bytes and includes up to 63 not-yet-compressed input bytes).
 */
export class ResumableSha256 implements RunningSha256 {
  private constructor(private readonly hasher: IHasher) {}

  /** A fresh hash, or one continuing from a saved state. */
  static async create(state?: Uint8Array | null): Promise<ResumableSha256> {
    const hasher = await createSHA256();
    if (state) hasher.load(state);
    else hasher.init();
    return new ResumableSha256(hasher);
  }

  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
  }

  save(): Buffer {
    return Buffer.from(this.hasher.save());
  }

  hex(): string {
    return this.hasher.digest('hex');
  }

  /** The digest a saved state stands for, leaving the state usable. */
  static async digestOfState(state: Uint8Array): Promise<string> {
    return (await ResumableSha256.create(state)).hex();
  }
}

/**
 * Node's (OpenSSL) SHA-256: several times faster than the WebAssembly one, but its state cannot
 * be saved. Used when nothing needs resuming (verifying from the first byte, Content-Digest).
 */
export class FastSha256 implements RunningSha256 {
  private readonly hash: Hash = createHash('sha256');

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }

  bytes(): Buffer {
    return this.hash.digest();
  }
}
