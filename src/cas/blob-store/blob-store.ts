import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DomainError } from '../../common/errors/domain-error';
import type { ByteRange } from '../../common/http/byte-range';

/**
 * Where one upload session's bytes wait until they are verified. `id` is the session id; `token`
 * is what the driver needs beyond it (the S3 multipart upload id), persisted by the caller.
 * A null token means the staging area is found from the id alone (filesystem).
 */
export interface StagingRef {
  readonly id: string;
  readonly token: string | null;
}

/** A part as the store holds it. The etag names this write of the part, not just its number. */
export interface StagedPart {
  readonly partNumber: number;
  readonly etag: string;
  readonly sizeBytes: number;
}

export interface ObjectStat {
  readonly sizeBytes: number;
}

/** `created`: the bytes were written to the key now; `exists`: the key already held an object. */
export type PromoteResult = 'created' | 'exists';

export interface PutPartOptions {
  /**
   * The part directly follows the staged parts already hashed, which end at this byte offset. A
   * driver may then write it in place, so assembling an upload sent in order copies nothing
   * (filesystem). Only a hint: the driver checks it and otherwise stores the part on its own.
   */
  readonly appendAt?: number;
}

export interface ReadOptions {
  readonly range?: ByteRange;
  readonly signal?: AbortSignal;
}

/**
 * The narrow contract every blob-store driver (filesystem, S3) fulfils. Object keys are chosen by
 * the CAS service (`cas/sha256/ab/cd/<hex>`); staging areas are named by upload session ids.
 * Missing objects raise BLOB_NOT_FOUND, an unreachable store DEPENDENCY_UNAVAILABLE, a store
 * without room for a write STORAGE_FULL.
 */
export interface BlobStore {
  readonly driver: 'fs' | 's3';
  /**
   * Resolves when the store answers and is writable; rejects with the reason otherwise
   * (STORAGE_FULL when it has no room left).
   */
  check(): Promise<void>;

  /** Opens the staging area of an upload (S3: a multipart upload). */
  createStaging(id: string): Promise<StagingRef>;
  /**
   * Streams exactly `sizeBytes` bytes of `body` into the staging area as part `partNumber`,
   * never holding the part in memory. A re-sent number replaces the earlier part (filesystem:
   * once the caller deletes the old etag; S3: at once).
   */
  putPart(
    staging: StagingRef,
    partNumber: number,
    body: Readable,
    sizeBytes: number,
    options?: PutPartOptions,
  ): Promise<StagedPart>;
  /** The parts held now (S3: ListParts). */
  listParts(staging: StagingRef): Promise<StagedPart[]>;
  /** Forgets one write of a part (S3: nothing to do; parts left out of assemble are dropped). */
  deletePart(staging: StagingRef, part: Pick<StagedPart, 'partNumber' | 'etag'>): Promise<void>;
  /** Joins the listed parts, in order, into the staged object. Idempotent once it succeeded. */
  assemble(staging: StagingRef, parts: readonly StagedPart[]): Promise<ObjectStat>;
  /**
   * Streams exactly `sizeBytes` bytes of `body` straight into the staged object, with no parts
   * (a whole blob in one request; the staging area needs no createStaging, its token is null).
   * The bytes are durable when it returns.
   */
  putStaged(staging: StagingRef, body: Readable, sizeBytes: number): Promise<ObjectStat>;
  /** The staged object's size, or null before assemble. */
  statStaged(staging: StagingRef): Promise<ObjectStat | null>;
  readStaged(staging: StagingRef, options?: ReadOptions): Promise<Readable>;
  /**
   * Puts the staged object at `key` unless an object already sits there: an existing CAS object
   * is never overwritten.
   */
  promote(staging: StagingRef, key: string): Promise<PromoteResult>;
  /** Removes everything staged for the upload (parts, staged object, S3 multipart upload). */
  deleteStaging(staging: StagingRef): Promise<void>;
  /** Staging areas present in the store (for the sweeper that removes orphans). */
  listStaging(): Promise<StagingRef[]>;

  read(key: string, options?: ReadOptions): Promise<Readable>;
  /**
   * The object at `key` as an open file, for a driver whose objects are files (filesystem): the
   * caller sends from it with sendfile(2), then closes it. Drivers without files (S3) leave it out.
   */
  openFile?(key: string): Promise<FileHandle>;
  stat(key: string): Promise<ObjectStat | null>;
  /** Deletes the object at `key`; deleting a missing object succeeds. */
  delete(key: string): Promise<void>;
}

export const BLOB_STORE = Symbol('BLOB_STORE');

/**
 * The etag under which an upload staged in one request (putStaged) lists its only part: the
 * staged object itself. assemble finds the object whole, or refuses (there are no parts to join).
 */
export const WHOLE_OBJECT_ETAG = 'one-request';

/** assemble's answer to a one-request upload whose staged object is not whole. */
export function incompleteWholeObject(): DomainError {
  return new DomainError(
    'UPLOAD_PART_MISMATCH',
    'The staged object of this upload is incomplete: its request ended before the last byte.',
  );
}

/** Keys are slash-separated lowercase segments; nothing that could climb out of a root. */
export function assertKey(key: string): void {
  if (!/^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/.test(key) || key.includes('..')) {
    throw new Error(`invalid blob-store key: ${JSON.stringify(key)}`);
  }
}

export function assertStagingId(id: string): void {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) {
    throw new Error(`invalid staging id: ${JSON.stringify(id)}`);
  }
}
