import { createHash, randomUUID } from 'node:crypto';
import { pipeline, Transform, Writable, type Readable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { attributionOf, AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import { errorSpec } from '../common/errors/error-registry';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import {
  BLOB_STORE,
  WHOLE_OBJECT_ETAG,
  type BlobStore,
  type StagingRef,
} from './blob-store/blob-store';
import type { UploadSessionEntity } from './cas.entities';
import { CasMetrics } from './cas.metrics';
import { CasJobs } from './cas.queue';
import { casKeyOf, digestOfHex, isDigest, parseContentDigest, type ContentDigest } from './digest';
import { UploadSessionRepository, type VerificationClaim } from './upload-session.repository';
import { UploadSessions } from './upload-sessions';
import { checkHint, UploadService } from './upload.service';
import { toView, type UploadSessionView } from './upload.types';

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

/** The request lost its claim on the session (its lease lapsed and a worker took over). */
class ClaimLostError extends Error {
  constructor() {
    super('the one-request upload lost its claim on the session');
  }
}

/**
 * A whole blob in one request (the OCI registry's monolithic upload), on a path of its own: one
 * transaction opens a session already `verifying` and claimed by the request (lease, as a worker's
 * verifier holds one); the body streams through SHA-256 into the staged object (durable on
 * return); digest and size are checked; the object is promoted to its CAS key; one transaction
 * trusts it and closes the session. Every guarantee of the session protocol holds: the server
 * hashes every byte, nothing is trusted before it sits verified at its key, and a crash at any
 * point leaves a claimed session whose lease lapses, so a worker's verifier finishes it (the
 * staged object is whole) or fails it and the sweeper frees the staging.
 */
@Injectable()
export class BlobPut {
  constructor(
    private readonly dataSource: DataSource,
    private readonly uploads: UploadService,
    private readonly uploadSessions: UploadSessions,
    private readonly sessions: UploadSessionRepository,
    private readonly jobs: CasJobs,
    private readonly audit: AuditService,
    private readonly metrics: CasMetrics,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async put(input: PutBlobInput, actor: Actor): Promise<PutBlobResult> {
    const { contentLength, contentDigest } = this.checkRequest(input);
    // A digest the GC deletes between the look and the begin is uploaded after all: look again.
    for (let look = 0; look < 3; look++) {
      const claim = await this.open(input, contentLength, actor);
      if (claim) {
        const session = await this.receive(claim, input.body, contentDigest, actor);
        return { session, created: true };
      }
      const trusted = await this.alreadyTrusted(input, contentLength, actor);
      if (trusted) return { session: trusted, created: false };
    }
    throw new Error(`${input.digest} was trusted and gone three times over during one request`);
  }

  private checkRequest(input: PutBlobInput): {
    contentLength: number;
    contentDigest: ContentDigest;
  } {
    const limit = this.config.cas.putMaxBytes;
    if (limit === 0)
      throw new DomainError(
        'BLOB_PUT_DISABLED',
        'This server takes blobs through upload sessions only (IMGSRV_BLOB_PUT_MAX_SIZE is 0B): POST /v1/uploads.',
      );
    if (!isDigest(input.digest))
      throw DomainError.validation([
        { pointer: '/digest', detail: 'must match ^sha256:[0-9a-f]{64}$' },
      ]);
    const contentLength = input.contentLength;
    if (contentLength === null)
      throw new DomainError('LENGTH_REQUIRED', 'A blob needs a Content-Length.');
    if (!Number.isSafeInteger(contentLength) || contentLength < 0)
      throw DomainError.validation([
        { pointer: '/headers/content-length', detail: 'must be a whole number of bytes' },
      ]);
    if (contentLength > limit)
      throw new DomainError(
        'BLOB_PUT_TOO_LARGE',
        `One request carries at most ${limit} bytes here; send ${contentLength} bytes through an upload session (POST /v1/uploads).`,
        { limit_bytes: limit, size_bytes: contentLength },
      );
    const hint = checkHint(input.mediaTypeHint, '/media_type_hint');
    if (hint.length) throw DomainError.validation(hint);
    const contentDigest = parseContentDigest(input.contentDigest);
    if (contentDigest.kind === 'malformed')
      throw DomainError.validation([
        { pointer: '/headers/content-digest', detail: contentDigest.reason },
      ]);
    return { contentLength, contentDigest };
  }

  /**
   * The digest is trusted already: a session `ready` at once, through the protocol's begin (409
   * when the sizes differ), and the body read to its end unhashed, so the connection stays usable.
   * Null when the blob went (the GC) between the look and the begin: then it is uploaded.
   */
  private async alreadyTrusted(
    input: PutBlobInput,
    contentLength: number,
    actor: Actor,
  ): Promise<UploadSessionView | null> {
    const { session, created } = await this.uploads.begin(
      {
        expectedDigest: input.digest,
        expectedSizeBytes: contentLength,
        mediaTypeHint: input.mediaTypeHint ?? null,
      },
      actor,
    );
    if (created) {
      await this.uploads.abort(session.id, actor);
      return null;
    }
    await pipelineAsync(
      input.body,
      new Writable({
        write: (_chunk, _encoding, done) => done(),
      }),
    ).catch(() => undefined); // a client that went away has nothing left to answer
    return session;
  }

  /** The session, claimed by this request, with the record of its begin; null if trusted already. */
  private open(
    input: PutBlobInput,
    contentLength: number,
    actor: Actor,
  ): Promise<VerificationClaim | null> {
    return this.sessions.insertClaimed({
      id: randomUUID(),
      expectedDigest: input.digest,
      expectedSizeBytes: contentLength,
      mediaTypeHint: input.mediaTypeHint ?? null,
      completedParts: [{ number: 1, etag: WHOLE_OBJECT_ETAG, size_bytes: contentLength }],
      owner: randomUUID(),
      leaseMs: this.config.cas.verifyLeaseMs,
      ttlMs: this.config.cas.uploadTtlMs,
      audit: {
        ...attributionOf(actor),
        detail: {
          digest: input.digest,
          size_bytes: contentLength,
          already_trusted: false,
          one_request: true,
        },
      },
    });
  }

  /** Streams, verifies, promotes and trusts the blob while holding the session's claim. */
  private async receive(
    claim: VerificationClaim,
    body: Readable,
    contentDigest: ContentDigest,
    actor: Actor,
  ): Promise<UploadSessionView> {
    const session = claim.session;
    const staging: StagingRef = { id: session.id, token: null };
    const leaseMs = this.config.cas.verifyLeaseMs;
    const heartbeat = setInterval(
      () => {
        this.sessions.renewLease(claim, leaseMs).catch((error: unknown) => {
          this.logger.warn({ err: error, uploadId: session.id }, 'lease renewal failed');
        });
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      let hash: Buffer;
      try {
        hash = await this.stage(staging, body, session.expectedSizeBytes);
      } catch (error) {
        await this.end(claim, actor, { state: 'aborted' });
        throw error;
      }
      this.metrics.bytesReceived.inc(session.expectedSizeBytes);
      if (contentDigest.kind === 'sha256' && !hash.equals(contentDigest.bytes)) {
        await this.end(claim, actor, { state: 'aborted' });
        throw new DomainError(
          'UPLOAD_PART_DIGEST_MISMATCH',
          'The body does not match its Content-Digest; it was discarded.',
        );
      }
      const digest = digestOfHex(hash.toString('hex'));
      if (digest !== session.expectedDigest) {
        this.metrics.verificationSeconds.observe({ outcome: 'failed' }, seconds());
        const failed = await this.end(claim, actor, {
          state: 'failed',
          failureCode: 'UPLOAD_DIGEST_MISMATCH',
          failureMessage: `The uploaded content hashes to ${digest}, not to the expected ${session.expectedDigest}.`,
        });
        throw this.uploadSessions.failureError(failed);
      }
      try {
        const ready = await this.trust(claim, staging, actor);
        this.metrics.verificationSeconds.observe({ outcome: 'ready' }, seconds());
        return toView(ready);
      } catch (error) {
        return await this.handOver(claim, error);
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** The body into the staged object through SHA-256: the hash of exactly what was stored. */
  private async stage(staging: StagingRef, body: Readable, size: number): Promise<Buffer> {
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // pipeline (not pipe): the body's error destroys the hashing stream with it, and neither
    // stream is left emitting an error nobody listens to before the store takes its end.
    const hashed = pipeline(body, hashing, () => undefined);
    await this.store.putStaged(staging, hashed, size);
    return hash.digest();
  }

  /**
   * Promotes the verified object to its key, then trusts it and closes the session in one call
   * (fenced by the claim), and frees the staging.
   */
  private async trust(
    claim: VerificationClaim,
    staging: StagingRef,
    actor: Actor,
  ): Promise<UploadSessionEntity> {
    const session = claim.session;
    const key = casKeyOf(session.expectedDigest);
    await this.store.promote(staging, key);
    const outcome = await this.sessions.trustClaimed(claim, key, {
      ...attributionOf(actor),
      detail: { digest: session.expectedDigest, parts: 1, size_bytes: session.expectedSizeBytes },
    });
    if (outcome === 'lost') throw new ClaimLostError();
    if (outcome === 'deleting') {
      // The GC is deleting these bytes right now: a worker promotes again once it is done.
      throw new Error(`the object ${key} is being deleted; verification will be retried`);
    }
    // Recorded as cleared with the commit: should this fail, the sweeper removes the orphan.
    await this.store.deleteStaging(staging).catch((error: unknown) => {
      this.logger.warn(
        { err: error, uploadId: session.id },
        'could not remove staging; the sweeper will',
      );
    });
    const now = new Date();
    return {
      ...session,
      state: 'ready',
      readyAt: now,
      verifyLeaseUntil: null,
      stagingClearedAt: now,
      updatedAt: now,
    };
  }

  /**
   * The bytes are staged and verified but could not be trusted now (store or database away, the
   * GC deleting the same object, the claim lost): a worker's verifier finishes the session, and
   * the client sees it `verifying` (202). When not even that can be arranged, the error stands
   * and the lapsing lease hands the session to the sweeper.
   */
  private async handOver(claim: VerificationClaim, error: unknown): Promise<UploadSessionView> {
    if (error instanceof DomainError && errorSpec(error.code).status < 500) throw error;
    const id = claim.session.id;
    if (!(error instanceof ClaimLostError)) {
      this.logger.warn({ err: error, uploadId: id }, 'one-request upload handed to a worker');
      await this.sessions.releaseLease(claim, 1_000);
      await this.jobs.enqueueVerification(id, claim.attempt);
    }
    const now = await this.sessions.findById(id);
    if (!now) throw error;
    return toView(now);
  }

  /** Ends the claimed session (aborted or failed) and frees its staging; answers the session. */
  private async end(
    claim: VerificationClaim,
    actor: Actor,
    fields: Pick<UploadSessionEntity, 'state'> &
      Partial<Pick<UploadSessionEntity, 'failureCode' | 'failureMessage'>>,
  ): Promise<UploadSessionEntity> {
    const session = claim.session;
    const ended = { ...session, ...fields, verifyLeaseUntil: null };
    try {
      const held = await this.dataSource.transaction(async (manager) => {
        if (
          !(await this.sessions.updateFenced(manager, claim, { ...fields, verifyLeaseUntil: null }))
        )
          return false;
        if (fields.state === 'aborted')
          await this.audit.record(manager, {
            actor,
            action: 'upload.abort',
            targetType: 'upload_session',
            targetId: session.id,
            detail: { digest: session.expectedDigest },
          });
        return true;
      });
      if (held) await this.uploadSessions.clearStaging(ended);
    } catch (error) {
      // The lease lapses and a worker's verifier ends the session instead.
      this.logger.warn({ err: error, uploadId: session.id }, 'could not end a one-request upload');
    }
    return ended;
  }
}
