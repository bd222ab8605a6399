import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { DomainError } from '../../common/errors/domain-error';
import {
  assertKey,
  assertStagingId,
  incompleteWholeObject,
  WHOLE_OBJECT_ETAG,
  type BlobStore,
  type ObjectStat,
  type PromoteResult,
  type ReadOptions,
  type StagedPart,
  type StagingRef,
} from './blob-store';
import { rangeLength } from '../../common/http/byte-range';
import { copyRanges, MAX_COPY_BYTES } from './copy-plan';
import {
  errorName,
  isNotFound,
  isUnsupported,
  limitTo,
  statusOf,
  stripQuotes,
  translate,
} from './s3-client';

/**
 * Blobs as objects in one S3 bucket (AWS S3, MinIO, Ceph RGW, Garage, s3rver).
 *
 * An upload stages as a real multipart upload at `staging/<upload id>/object`; assembling it is
 * CompleteMultipartUpload. Promotion is a server-side copy to the CAS key (UploadPartCopy above
 * 5 GiB) with `If-None-Match: *`, after a HEAD: servers that ignore the condition (s3rver) are
 * still protected from overwriting, except against a writer racing between the HEAD and the copy
 * — which can only write the same verified bytes to that key.
 */
export class S3BlobStore implements BlobStore {
  readonly driver = 's3' as const;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    private readonly copyPartBytes = 512 * 1024 * 1024,
  ) {}

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), {
      abortSignal: AbortSignal.timeout(2_000),
    });
  }

  private stagingKey(id: string): string {
    assertStagingId(id);
    return `staging/${id}/object`;
  }

  private async send<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (e) {
      throw translate(e);
    }
  }

  async createStaging(id: string): Promise<StagingRef> {
    const out = await this.send(() =>
      this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.stagingKey(id) }),
      ),
    );
    if (!out.UploadId) throw new Error('S3 answered CreateMultipartUpload without an UploadId');
    return { id, token: out.UploadId };
  }

  private uploadIdOf(staging: StagingRef): string {
    if (!staging.token) throw new Error(`staging ${staging.id} has no multipart upload id`);
    return staging.token;
  }

  /**
   * Sends a request that streams `body`. The SDK pipes the body into the request and never hears
   * of its errors: a client that goes away mid-body would leave the S3 request waiting. Abort it,
   * and report the body's error as it is (the client's doing, not the store's); the store's own
   * errors go through `refine` (an error of its request's kind), then `translate`.
   */
  private async sendBody<T>(
    body: Readable,
    send: (signal: AbortSignal) => Promise<T>,
    refine: (e: unknown) => unknown = (e) => e,
  ): Promise<T> {
    const abort = new AbortController();
    let bodyError: unknown;
    const onError = (e: unknown) => {
      bodyError = e;
      abort.abort(e);
    };
    body.once('error', onError);
    try {
      const out = await send(abort.signal);
      if (bodyError) throw bodyError;
      return out;
    } catch (e) {
      if (bodyError) throw bodyError;
      throw translate(refine(e));
    } finally {
      body.off('error', onError);
    }
  }

  async putPart(
    staging: StagingRef,
    partNumber: number,
    body: Readable,
    sizeBytes: number,
  ): Promise<StagedPart> {
    const out = await this.sendBody(
      body,
      (abortSignal) =>
        this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: this.stagingKey(staging.id),
            UploadId: this.uploadIdOf(staging),
            PartNumber: partNumber,
            Body: body,
            ContentLength: sizeBytes,
          }),
          { abortSignal },
        ),
      (e) =>
        errorName(e) === 'NoSuchUpload'
          ? new DomainError('UPLOAD_NOT_OPEN', 'The staging area of this upload is gone.')
          : e,
    );
    return { partNumber, etag: stripQuotes(out.ETag), sizeBytes };
  }

  async listParts(staging: StagingRef): Promise<StagedPart[]> {
    const parts: StagedPart[] = [];
    let marker: string | undefined;
    do {
      const out = await this.send(() =>
        this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: this.stagingKey(staging.id),
            UploadId: this.uploadIdOf(staging),
            PartNumberMarker: marker,
          }),
        ),
      );
      for (const p of out.Parts ?? []) {
        parts.push({
          partNumber: p.PartNumber ?? 0,
          etag: stripQuotes(p.ETag),
          sizeBytes: p.Size ?? 0,
        });
      }
      marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
    } while (marker);
    return parts;
  }

  async deletePart(): Promise<void> {
    // S3 keeps one copy per part number; a part left out of CompleteMultipartUpload is dropped.
  }

  async putStaged(staging: StagingRef, body: Readable, sizeBytes: number): Promise<ObjectStat> {
    await this.sendBody(body, (abortSignal) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.stagingKey(staging.id),
          Body: body,
          ContentLength: sizeBytes,
        }),
        { abortSignal },
      ),
    );
    return { sizeBytes };
  }

  async assemble(staging: StagingRef, parts: readonly StagedPart[]): Promise<ObjectStat> {
    const expected = parts.reduce((sum, p) => sum + p.sizeBytes, 0);
    // Completed by an earlier attempt that crashed before recording it.
    const existing = await this.statStaged(staging);
    if (existing?.sizeBytes === expected) return existing;
    if (!staging.token || parts.some((p) => p.etag === WHOLE_OBJECT_ETAG))
      throw incompleteWholeObject();
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.stagingKey(staging.id),
          UploadId: this.uploadIdOf(staging),
          MultipartUpload: {
            Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"` })),
          },
        }),
      );
    } catch (e) {
      const name = errorName(e);
      if (name === 'NoSuchUpload') {
        throw new DomainError('UPLOAD_PART_MISMATCH', 'The staged parts of this upload are gone.');
      }
      if (['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall'].includes(name)) {
        throw new DomainError(
          'UPLOAD_PART_MISMATCH',
          'The staged parts no longer match the listed parts (a part was re-sent meanwhile).',
        );
      }
      throw translate(e);
    }
    const stat = await this.statStaged(staging);
    if (stat?.sizeBytes !== expected) {
      throw new Error(`assembled ${stat?.sizeBytes} bytes, expected ${expected}`);
    }
    return stat;
  }

  async statStaged(staging: StagingRef): Promise<ObjectStat | null> {
    return this.statKey(this.stagingKey(staging.id));
  }

  async readStaged(staging: StagingRef, options: ReadOptions = {}): Promise<Readable> {
    return this.readKey(this.stagingKey(staging.id), options);
  }

  async promote(staging: StagingRef, key: string): Promise<PromoteResult> {
    assertKey(key);
    // Conditional writes are the guarantee; the HEAD also covers servers that ignore them.
    if (await this.stat(key)) return 'exists';
    const source = this.stagingKey(staging.id);
    const size = (await this.statStaged(staging))?.sizeBytes;
    if (size === undefined) {
      throw new DomainError('BLOB_NOT_FOUND', 'The staged object of this upload is missing.');
    }
    try {
      if (size <= MAX_COPY_BYTES) {
        await this.client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: key,
            CopySource: `${this.bucket}/${source}`,
            IfNoneMatch: '*',
          }),
        );
      } else {
        await this.copyInParts(source, key, size);
      }
      return 'created';
    } catch (e) {
      if (errorName(e) === 'PreconditionFailed' || statusOf(e) === 412) return 'exists';
      throw translate(e);
    }
  }

  private async copyInParts(source: string, key: string, size: number): Promise<void> {
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }),
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error('S3 answered CreateMultipartUpload without an UploadId');
    try {
      const parts = [];
      for (const [i, range] of copyRanges(size, this.copyPartBytes).entries()) {
        const out = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: i + 1,
            CopySource: `${this.bucket}/${source}`,
            CopySourceRange: `bytes=${range.start}-${range.end}`,
          }),
        );
        parts.push({ PartNumber: i + 1, ETag: out.CopyPartResult?.ETag });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          IfNoneMatch: '*',
        }),
      );
    } catch (e) {
      await this.abortMultipart(key, uploadId).catch(() => undefined);
      throw e;
    }
  }

  private async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch (e) {
      // Already gone is done. A server without AbortMultipartUpload (s3rver) keeps the parts
      // until the bucket's lifecycle rule (AbortIncompleteMultipartUpload) removes them.
      if (errorName(e) === 'NoSuchUpload' || isNotFound(e) || isUnsupported(e)) return;
      throw translate(e);
    }
  }

  async deleteStaging(staging: StagingRef): Promise<void> {
    const key = this.stagingKey(staging.id);
    if (staging.token) await this.abortMultipart(key, staging.token);
    await this.delete(key);
  }

  async listStaging(): Promise<StagingRef[]> {
    const found = new Map<string, string | null>();
    let token: string | undefined;
    do {
      const out = await this.send(() =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: 'staging/',
            Delimiter: '/',
            ContinuationToken: token,
          }),
        ),
      );
      for (const p of out.CommonPrefixes ?? []) {
        const id = /^staging\/([^/]+)\/$/.exec(p.Prefix ?? '')?.[1];
        if (id) found.set(id, null);
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    try {
      let keyMarker: string | undefined;
      let uploadMarker: string | undefined;
      do {
        const out = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: 'staging/',
            KeyMarker: keyMarker,
            UploadIdMarker: uploadMarker,
          }),
        );
        for (const u of out.Uploads ?? []) {
          const id = /^staging\/([^/]+)\/object$/.exec(u.Key ?? '')?.[1];
          if (id && u.UploadId) found.set(id, u.UploadId);
        }
        keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
        uploadMarker = out.IsTruncated ? out.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (e) {
      // s3rver has no ListMultipartUploads: only assembled staging objects are found there.
      if (!isUnsupported(e)) throw translate(e);
    }
    return [...found]
      .filter(([id]) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id))
      .map(([id, t]) => ({ id, token: t }));
  }

  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    assertKey(key);
    return this.readKey(key, options);
  }

  async stat(key: string): Promise<ObjectStat | null> {
    assertKey(key);
    return this.statKey(key);
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    await this.send(() =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
  }

  private async statKey(key: string): Promise<ObjectStat | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { sizeBytes: out.ContentLength ?? 0 };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw translate(e);
    }
  }

  private async readKey(key: string, { range, signal }: ReadOptions): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
        { abortSignal: signal },
      );
      if (!(out.Body instanceof Readable)) throw new Error('S3 answered without a body stream');
      if (range && (out.ContentLength ?? 0) > rangeLength(range)) {
        // The server ignored part of the range (s3rver serves bytes=0-0 whole): cut it to size.
        return limitTo(out.Body, rangeLength(range));
      }
      return out.Body;
    } catch (e) {
      if (isNotFound(e)) throw new DomainError('BLOB_NOT_FOUND', 'No such object.');
      throw translate(e);
    }
  }
}
