import { Transform, type TransformCallback } from 'node:stream';
import * as tar from 'tar-stream';
import { IncusMetadataError, parseMetadataYaml, type IncusMetadata } from './metadata';

/**
 * Reads `metadata.yaml` out of an Incus metadata tarball (`incus.tar.xz`) while the tarball streams
 * past, holding only metadata.yaml (capped) in memory.
 *
 * Two entry points share one scanner:
 * - `IncusMetadataProbe` is a pass-through Transform: put it in the pipeline that stores and hashes
 *   the upload, and it inspects the bytes on the way without changing or withholding any. Once
 *   metadata.yaml is found it stops decompressing and only passes bytes on, so the caller still
 *   hashes the whole tarball with no tee and no second read.
 * - `parseIncusMetadata` reads a stream only as far as metadata.yaml and then destroys it: for a
 *   tarball already stored, where nothing else needs the rest.
 */

export interface IncusMetadataOptions {
  /** The largest metadata.yaml accepted, in bytes (default 1 MiB). */
  readonly maxMetadataBytes?: number;
}

export const DEFAULT_MAX_METADATA_BYTES = 1024 * 1024;

/**
 * Parses the metadata.yaml of the tarball `source` delivers. Reads only as far as metadata.yaml
 * and then destroys `source`; to keep the rest of the bytes (to hash or store them), pipe the
 * stream through an `IncusMetadataProbe` instead. Rejects with `IncusMetadataError` when the
 * tarball is at fault, or with `source`'s own error when the stream fails.
 */
export async function parseIncusMetadata(
  source: AsyncIterable<unknown>,
  options: IncusMetadataOptions = {},
): Promise<IncusMetadata> {
  const scanner = new MetadataScanner(options);
  try {
    for await (const chunk of source) {
      await scanner.write(asBuffer(chunk));
      if (scanner.settled) break;
    }
    await scanner.end();
  } catch (error) {
    scanner.abort(error);
  }
  return scanner.result;
}

/**
 * A pass-through stream that parses metadata.yaml from the tarball flowing through it. Every
 * chunk is passed on unchanged whatever the tarball holds: a bad tarball rejects `metadata`, it
 * does not fail the pipeline. `metadata` is settled by the time the stream finishes (its flush
 * waits for the answer), and it rejects if the stream is destroyed first.
 *
 *     const probe = new IncusMetadataProbe();
 *     await pipeline(upload, probe, hashAndStore);
 *     const metadata = await probe.metadata;
 */
export class IncusMetadataProbe extends Transform {
  /** Never leaves an unhandled rejection behind: await it to see the error. */
  readonly metadata: Promise<IncusMetadata>;
  private readonly scanner: MetadataScanner;

  constructor(options: IncusMetadataOptions = {}) {
    super();
    this.scanner = new MetadataScanner(options);
    this.metadata = this.scanner.result;
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback) {
    let bytes: Buffer;
    try {
      bytes = asBuffer(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.push(bytes);
    // Acknowledged once the scanner took the chunk, so a slow decompressor slows the writer
    // instead of buffering; once settled the scanner takes chunks at once.
    this.scanner.write(bytes).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback) {
    this.scanner.end().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    this.scanner.abort(
      error ?? new Error('the stream was destroyed before metadata.yaml was read'),
    );
    callback(error);
  }
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/**
 * liblzma refuses a stream whose decoder needs more: `xz -9e` needs 65 MiB, and a hostile header
 * asking for gigabytes should fail instead of allocating them.
 */
const DECODER_MEMORY_LIMIT = 128 * 1024 * 1024;

/**
 * Input is fed to liblzma in slices this small because the binding pushes all the output of one
 * slice at once, without backpressure: xz reaches about 7000:1 on repetitive data, so 4 KiB of
 * input bounds what one step can produce to some 28 MiB.
 */
const DECODER_SLICE_BYTES = 4 * 1024;

const LZMA_MEMLIMIT_ERROR = 6;

/** The slice of the lzma-native API used here (its DefinitelyTyped types are inaccurate). */
interface LzmaDecoder extends Transform {
  /** Frees the native decoder (lzma_end); safe while a coding job runs, it takes the same lock. */
  cleanup(): void;
}
interface LzmaNative {
  createStream(coder: 'streamDecoder', options: { memlimit: number }): LzmaDecoder;
}
// Loaded with the module, so a host where the native addon cannot load fails at start-up rather
// than blaming the first uploader's tarball.
const lzma = require('lzma-native') as LzmaNative;

/**
 * The state shared by both entry points: checks the xz magic, decompresses through liblzma into a
 * tar parser, and settles `result` once with metadata.yaml or an `IncusMetadataError`. After that
 * it releases the decoder and parser, and `write` returns at once.
 */
class MetadataScanner {
  readonly result: Promise<IncusMetadata>;
  private readonly maxMetadataBytes: number;
  private resolveResult!: (metadata: IncusMetadata) => void;
  private rejectResult!: (error: unknown) => void;
  private readonly settledSignal: Promise<void>;
  private signalSettled!: () => void;
  private done = false;
  private head: Buffer = Buffer.alloc(0);
  private decoder?: LzmaDecoder;
  private extract?: tar.Extract;

  constructor(options: IncusMetadataOptions) {
    this.maxMetadataBytes = options.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES;
    this.result = new Promise<IncusMetadata>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.result.catch(() => undefined);
    this.settledSignal = new Promise<void>((resolve) => (this.signalSettled = resolve));
  }

  get settled(): boolean {
    return this.done;
  }

  /**
   * Takes the next bytes of the tarball; resolves when ready for more. A tarball at fault settles
   * `result` instead of rejecting.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.done || chunk.length === 0) return;
    let bytes = chunk;
    if (!this.decoder) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < XZ_MAGIC.length) return;
      if (!this.head.subarray(0, XZ_MAGIC.length).equals(XZ_MAGIC)) {
        this.fail(notXz());
        return;
      }
      bytes = this.head;
      this.head = Buffer.alloc(0);
      this.start();
    }
    for (let at = 0; at < bytes.length && !this.done; at += DECODER_SLICE_BYTES) {
      const slice = bytes.subarray(at, at + DECODER_SLICE_BYTES);
      const decoder = this.decoder!;
      await Promise.race([
        new Promise<void>((resolve) => decoder.write(slice, () => resolve())),
        this.settledSignal,
      ]);
    }
  }

  /** The tarball is complete: resolves once `result` is settled. */
  async end(): Promise<void> {
    if (this.done) return;
    if (!this.decoder) {
      this.fail(notXz());
      return;
    }
    this.decoder.end();
    await this.settledSignal;
  }

  /** The input failed: settles `result` with that error unless it is already settled. */
  abort(error: unknown): void {
    this.settle(() => this.rejectResult(error));
  }

  private start(): void {
    const decoder = lzma.createStream('streamDecoder', { memlimit: DECODER_MEMORY_LIMIT });
    const extract = tar.extract();
    this.decoder = decoder;
    this.extract = extract;
    decoder.on('error', (error: unknown) => this.fail(xzError(error)));
    decoder.on('data', (chunk: Buffer) => {
      if (!extract.write(chunk)) decoder.pause();
    });
    extract.on('drain', () => decoder.resume());
    decoder.on('end', () => extract.end(null));
    void this.readEntries(extract);
  }

  private async readEntries(extract: tar.Extract): Promise<void> {
    try {
      for await (const entry of extract) {
        if (this.done) return;
        const { header } = entry;
        if (header.type === 'file' && isMetadataPath(header.name)) {
          if (header.size > this.maxMetadataBytes) throw tooLarge(this.maxMetadataBytes);
          const text = await readText(entry, this.maxMetadataBytes);
          const metadata = parseMetadataYaml(text);
          this.settle(() => this.resolveResult(metadata));
          return;
        }
        entry.resume();
      }
      this.fail(
        new IncusMetadataError(
          'METADATA_MISSING',
          'The metadata tarball has no metadata.yaml at its root.',
        ),
      );
    } catch (error) {
      this.fail(
        error instanceof IncusMetadataError
          ? error
          : new IncusMetadataError('NOT_TAR', 'The xz data does not hold a valid tar archive.'),
      );
    }
  }

  private fail(error: IncusMetadataError): void {
    this.settle(() => this.rejectResult(error));
  }

  private settle(report: () => void): void {
    if (this.done) return;
    this.done = true;
    report();
    this.signalSettled();
    this.release();
  }

  /** Stops decompressing: the rest of the tarball is not needed. */
  private release(): void {
    const { decoder, extract } = this;
    this.decoder = undefined;
    this.extract = undefined;
    this.head = Buffer.alloc(0);
    if (decoder) {
      decoder.removeAllListeners('data');
      decoder.removeAllListeners('end');
      decoder.removeAllListeners('error');
      // A coding job still running may report an error after this; nobody is listening for it.
      decoder.on('error', () => undefined);
      decoder.cleanup();
    }
    if (extract) {
      extract.on('error', () => undefined);
      extract.destroy();
    }
  }
}

function isMetadataPath(name: string): boolean {
  return name === 'metadata.yaml' || name === './metadata.yaml';
}

async function readText(entry: AsyncIterable<unknown>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const data of entry) {
    const chunk = data as Buffer;
    size += chunk.length;
    if (size > max) throw tooLarge(max);
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new IncusMetadataError('METADATA_YAML_INVALID', 'metadata.yaml is not valid UTF-8.');
  }
}

function notXz(): IncusMetadataError {
  return new IncusMetadataError(
    'NOT_XZ',
    'The metadata tarball is not xz-compressed; Incus expects an incus.tar.xz.',
  );
}

function tooLarge(max: number): IncusMetadataError {
  return new IncusMetadataError(
    'METADATA_TOO_LARGE',
    `metadata.yaml is larger than ${formatBytes(max)}.`,
  );
}

function xzError(error: unknown): IncusMetadataError {
  const code = (error as { code?: unknown } | null)?.code;
  return new IncusMetadataError(
    'XZ_INVALID',
    code === LZMA_MEMLIMIT_ERROR
      ? `The xz data needs more than ${formatBytes(DECODER_MEMORY_LIMIT)} of memory to decompress.`
      : 'The xz data is corrupt or truncated.',
  );
}

function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  throw new TypeError('an Incus metadata tarball must be read as bytes, not as text or objects');
}
