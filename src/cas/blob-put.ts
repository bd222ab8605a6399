import { Inject, Injectable } from '@nestjs/common';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Actor } from '../auth/actor';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import { PartReceiver } from './part-receiver';
import { UploadService } from './upload.service';
import type { UploadSessionView } from './upload.types';

export interface PutBlobInput {
  readonly digest: string;
  readonly body: Readable;
  /** The Content-Length header, or null when the request had none (411). */
  readonly contentLength: number | null;
  readonly contentDigest?: string | null;
  readonly mediaTypeHint?: string | null;
}

export interface PutBlobResult {
  /** The session the blob went through: `ready`, or `verifying` when a worker finishes it. */
  readonly session: UploadSessionView;
  /** false: the digest was already trusted and the body was not read. */
  readonly created: boolean;
}

/**
 * A whole blob in one request (the OCI registry's monolithic upload): an upload session of one
 * part, begun, received and completed inside the request, so every guarantee of sessions holds
 * (the server hashes every byte while it streams to staging, verifies digest and size before the
 * blob is trusted, and a crash at any point leaves a session the sweeper cleans up) without the
 * client's three round trips.
 */
@Injectable()
export class BlobPut {
  constructor(
    private readonly uploads: UploadService,
    private readonly parts: PartReceiver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async put(input: PutBlobInput, actor: Actor): Promise<PutBlobResult> {
    const limit = this.config.cas.putMaxBytes;
    if (limit === 0)
      throw new DomainError(
        'BLOB_PUT_DISABLED',
        'This server takes blobs through upload sessions only (IMGSRV_BLOB_PUT_MAX_SIZE is 0B): POST /v1/uploads.',
      );
    if (input.contentLength === null)
      throw new DomainError('LENGTH_REQUIRED', 'A blob needs a Content-Length.');
    if (input.contentLength > limit)
      throw new DomainError(
        'BLOB_PUT_TOO_LARGE',
        `One request carries at most ${limit} bytes here; send ${input.contentLength} bytes through an upload session (POST /v1/uploads).`,
        { limit_bytes: limit, size_bytes: input.contentLength },
      );
    const { session, created } = await this.uploads.begin(
      {
        expectedDigest: input.digest,
        expectedSizeBytes: input.contentLength,
        mediaTypeHint: input.mediaTypeHint ?? null,
      },
      actor,
    );
    if (!created) {
      // Already trusted: the bytes are not needed, but read to the end (at most the limit), so
      // the client's request completes and its connection stays usable.
      await pipeline(
        input.body,
        new Writable({
          write: (_chunk, _encoding, done) => done(),
        }),
      ).catch(() => undefined); // a client that went away has nothing left to answer
      return { session, created: false };
    }
    let part;
    try {
      part = await this.parts.putPart(
        {
          uploadId: session.id,
          partNumber: 1,
          body: input.body,
          contentLength: input.contentLength,
          contentDigest: input.contentDigest ?? null,
        },
        actor,
      );
    } catch (error) {
      // Free the staged bytes now rather than when the session expires.
      await this.uploads.abort(session.id, actor).catch(() => undefined);
      throw error;
    }
    const completed = await this.uploads.complete(
      session.id,
      [{ number: 1, etag: part.etag, sizeBytes: part.sizeBytes }],
      actor,
    );
    return { session: completed, created: true };
  }
}
