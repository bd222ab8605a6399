import { once } from 'node:events';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DomainError } from '../../common/errors/domain-error';
import type { ObjectStat, ReadOptions } from './blob-store';
import { DurableFileWriter } from './durable-writer';

/**
 * The filesystem under the fs store: errno translation (a full disk is STORAGE_FULL, an absent
 * mount DEPENDENCY_UNAVAILABLE), the names staged parts carry, and reading, opening and syncing
 * paths. FsBlobStore (fs-blob-store.ts) is the protocol on top.
 */

/** errno codes that mean the store has no room for what is written (disk full, quota). */
export const FULL = new Set(['ENOSPC', 'EDQUOT']);

/** errno codes that mean the store cannot be used right now, rather than a bug or a missing file. */
const UNAVAILABLE = new Set([
  'EIO',
  'EROFS',
  'EACCES',
  'EPERM',
  'EMFILE',
  'ENFILE',
  'ENOTCONN',
  'ESTALE',
]);

export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/**
 * A full store becomes STORAGE_FULL (the write may succeed once space returns), other store
 * failures DEPENDENCY_UNAVAILABLE; anything else (including body errors) passes.
 */
export function translate(e: unknown): unknown {
  const code = errno(e);
  if (code && FULL.has(code)) {
    return new DomainError('STORAGE_FULL', `The blob store is out of space (${code}).`);
  }
  if (code && UNAVAILABLE.has(code)) {
    return new DomainError('DEPENDENCY_UNAVAILABLE', `The blob store cannot be used (${code}).`);
  }
  return e;
}

export async function ignoreMissing(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw translate(e);
  }
}

/** What the readiness check writes (and removes): a full store refuses even this much. */
export const PROBE_BYTES = Buffer.alloc(64 * 1024);

export const PART_FILE = /^(\d{5})\.([0-9a-f]{32}|r\d+-\d+-[0-9a-f]{16})$/;
/** The etag of a part written in place in the chain file: offset, size, and a nonce. */
export const REGION_ETAG = /^r(\d+)-(\d+)-[0-9a-f]{16}$/;

export function regionOf(etag: string): { start: number; size: number } | null {
  const m = REGION_ETAG.exec(etag);
  return m ? { start: Number(m[1]), size: Number(m[2]) } : null;
}

/** Creates `path` if it does not exist; false when it did (an O_EXCL lock or marker). */
export async function createExclusive(path: string): Promise<boolean> {
  try {
    await (await open(path, 'wx')).close();
    return true;
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    throw translate(e);
  }
}

export async function statPath(path: string): Promise<ObjectStat | null> {
  try {
    return { sizeBytes: (await stat(path)).size };
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw translate(e);
  }
}

export async function openPath(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new DomainError('BLOB_NOT_FOUND', 'No such object.');
    throw translate(e);
  }
}

export async function readPath(path: string, { range, signal }: ReadOptions): Promise<Readable> {
  const handle = await openPath(path);
  const stream = handle.createReadStream({
    start: range?.start,
    end: range?.end,
    highWaterMark: 1024 * 1024,
  });
  return signal ? addAbortSignal(signal, stream) : stream;
}

/** Makes a new directory entry durable (after link or rename). */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Streams `body` into `path` (opened with `flags`, from `start`) and returns the bytes written.
 * The file is opened before the body is read, and flushed and closed before this returns or
 * throws: whoever cleans up after a failed body sees the file as it stays, never a late open.
 * Writing out starts while the body arrives (DurableFileWriter), not only at the end.
 */
export async function streamToFile(
  path: string,
  flags: 'wx' | 'r+',
  body: AsyncIterable<unknown> | Readable,
  start?: number,
): Promise<number> {
  const out = new DurableFileWriter(await open(path, flags), start);
  try {
    await pipeline(body, out);
    return out.bytesWritten;
  } finally {
    if (!out.closed) await once(out, 'close');
  }
}
