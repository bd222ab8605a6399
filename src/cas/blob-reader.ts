import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DomainError } from '../common/errors/domain-error';
import type { ByteRange } from '../common/http/byte-range';
import { BLOB_STORE, type BlobStore } from './blob-store/blob-store';
import { CasBlobRepository } from './cas-blob.repository';
import { casKeyOf, isDigest } from './digest';
import type { BlobView } from './upload.types';

/**
 * Trusted blobs for everyone who reads them (downloads, streams items, publish): their facts from
 * PostgreSQL, their bytes from the store. Only digests with a trusted row are ever served.
 */
@Injectable()
export class BlobReader {
  constructor(
    private readonly blobs: CasBlobRepository,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
  ) {}

  /** A trusted blob's facts, from the database alone (HEAD never touches the store). */
  async getBlob(digest: string): Promise<BlobView> {
    const blob = isDigest(digest) ? await this.blobs.findByDigest(digest) : null;
    if (!blob) throw new DomainError('BLOB_NOT_FOUND', `No trusted blob ${digest}.`);
    return { digest: blob.digest, sizeBytes: blob.sizeBytes, createdAt: blob.createdAt };
  }

  /** A trusted blob's bytes, whole or one range. Only digests with a trusted row are served. */
  async readBlob(
    digest: string,
    range?: ByteRange,
    signal?: AbortSignal,
  ): Promise<{ blob: BlobView; stream: Readable }> {
    const blob = await this.getBlob(digest);
    return { blob, stream: await this.openBlob(blob, range, signal) };
  }

  /** The bytes of a blob already looked up with getBlob (downloads: one database read each). */
  openBlob(blob: BlobView, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    return this.store.read(casKeyOf(blob.digest), { range, signal });
  }

  /**
   * A blob already looked up with getBlob as an open file the caller sends from with sendfile(2)
   * and closes; null when the store keeps no files (S3), and the caller uses openBlob.
   */
  async openBlobFile(blob: BlobView): Promise<FileHandle | null> {
    return this.store.openFile ? this.store.openFile(casKeyOf(blob.digest)) : null;
  }

  /**
   * The trusted size of each of `digests` that is trusted (publish validation), read through the
   * caller's transaction when given.
   */
  async trustedSizes(
    digests: readonly string[],
    manager?: EntityManager,
  ): Promise<Map<string, number>> {
    const rows = await this.blobs.findByDigests(digests.filter(isDigest), manager);
    return new Map(rows.map((b) => [b.digest, b.sizeBytes]));
  }
}
