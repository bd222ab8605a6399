import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import { errorSpec } from '../common/errors/error-registry';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { BLOB_STORE, type BlobStore, type StagingRef } from './blob-store/blob-store';
import { CasBlobRepository } from './cas-blob.repository';
import { fromStoredParts } from './cas.entities';
import { CasMetrics } from './cas.metrics';
import { casKeyOf, digestOfHex } from './digest';
import { FastSha256, ResumableSha256, type RunningSha256 } from './sha256-state';
import { hashedPrefix, totalSize, type ChainLink, type ListedPart } from './upload-parts';
import { UploadPartRepository } from './upload-part.repository';
import { UploadSessionRepository, type VerificationClaim } from './upload-session.repository';

/**
 * `ready`/`failed`: this call finished the verification. `busy`: someone else holds it, or it
 * was already finished, or this verifier lost its claim midway (the holder carries on).
 */
export type VerifyOutcome = 'ready' | 'failed' | 'busy';

/** The claim was taken over (lease lapsed): stop without writing anything. */
class ClaimLostError extends Error {
  constructor() {
    super('the verification claim was lost');
  }
}

/** What a session shows while its verification waits for the blob store to have room again. */
const STALLED_FOR_SPACE =
  'The blob store ran out of space while verifying this upload: the verification is retried ' +
  'once space returns; abort the upload to free its staged bytes instead.';

/** A content problem: the session fails for good. */
class VerificationFailure extends Error {
  constructor(
    readonly code: 'UPLOAD_DIGEST_MISMATCH' | 'UPLOAD_SIZE_MISMATCH' | 'UPLOAD_PART_MISMATCH',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Verifies completed uploads: assemble the staged object, hash what the running hash did not
 * cover, compare digest and size, promote to the CAS key, then record the trusted row. Each step
 * is idempotent and runs under a lease in PostgreSQL, fenced by (owner, attempt): a crash at any
 * point leaves the session `verifying` with a lease that lapses, and the next claim redoes the
 * remaining steps. The trusted row is written only after the object sits at its key.
 */
@Injectable()
export class UploadVerifier {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sessions: UploadSessionRepository,
    private readonly parts: UploadPartRepository,
    private readonly blobs: CasBlobRepository,
    private readonly metrics: CasMetrics,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  private get leaseMs(): number {
    return this.config.cas.verifyLeaseMs;
  }

  /**
   * Claims and verifies one upload. Throws on transient failures (store or database away,
   * aborted through `signal`) after releasing the claim, so a retry can take over.
   */
  async verify(uploadId: string, options: { signal?: AbortSignal } = {}): Promise<VerifyOutcome> {
    const claim = await this.sessions.claimVerification(uploadId, randomUUID(), this.leaseMs);
    if (!claim) return 'busy';
    const lost = new AbortController();
    const heartbeat = setInterval(
      () => {
        this.sessions.renewLease(claim, this.leaseMs).then(
          (held) => {
            if (!held) lost.abort(new ClaimLostError());
          },
          (error: unknown) => this.logger.warn({ err: error, uploadId }, 'lease renewal failed'),
        );
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    const signal = options.signal ? AbortSignal.any([options.signal, lost.signal]) : lost.signal;
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      await this.run(claim, signal);
      this.metrics.verificationSeconds.observe({ outcome: 'ready' }, seconds());
      return 'ready';
    } catch (error) {
      if (error instanceof ClaimLostError || lost.signal.aborted) return 'busy';
      const failure = this.asFailure(error);
      if (failure) {
        this.metrics.verificationSeconds.observe({ outcome: 'failed' }, seconds());
        return (await this.fail(claim, failure)) ? 'failed' : 'busy';
      }
      if (error instanceof DomainError && error.code === 'STORAGE_FULL') {
        // Still retried like any store failure, but the session says why it waits (and abort,
        // seeing the message, may end it and free the staged bytes).
        this.metrics.storeFull.inc({ operation: 'verification' });
        await this.sessions
          .updateFenced(this.dataSource.manager, claim, { failureMessage: STALLED_FOR_SPACE })
          .catch(() => undefined);
      }
      const delay = signal.aborted
        ? 0
        : Math.min(this.leaseMs, 1_000 * 2 ** Math.min(claim.attempt, 6));
      await this.sessions.releaseLease(claim, delay).catch(() => undefined);
      throw error;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Content problems end the session; anything else (503, bugs, aborts) is retried. */
  private asFailure(error: unknown): VerificationFailure | null {
    if (error instanceof VerificationFailure) return error;
    if (error instanceof DomainError && errorSpec(error.code).status < 500) {
      return new VerificationFailure('UPLOAD_PART_MISMATCH', error.detail);
    }
    return null;
  }

  private async run(claim: VerificationClaim, signal: AbortSignal): Promise<void> {
    const session = claim.session;
    if (!session.completedParts) throw new Error(`upload ${session.id} has no frozen parts list`);
    const listed = fromStoredParts(session.completedParts);
    const staging: StagingRef = { id: session.id, token: session.stagingToken };

    if (!session.assembledAt) {
      await this.store.assemble(
        staging,
        listed.map((p) => ({ partNumber: p.number, etag: p.etag, sizeBytes: p.sizeBytes })),
      );
      const held = await this.sessions.updateFenced(this.dataSource.manager, claim, {
        assembledAt: new Date(),
      });
      if (!held) throw new ClaimLostError();
    }
    signal.throwIfAborted();

    const staged = await this.store.statStaged(staging);
    if (!staged) {
      throw new VerificationFailure(
        'UPLOAD_PART_MISMATCH',
        'The staged object of this upload is missing.',
      );
    }
    if (
      staged.sizeBytes !== session.expectedSizeBytes ||
      totalSize(listed) !== session.expectedSizeBytes
    ) {
      throw new VerificationFailure(
        'UPLOAD_SIZE_MISMATCH',
        `The upload has ${staged.sizeBytes} bytes; ${session.expectedSizeBytes} were expected.`,
      );
    }

    const digest = digestOfHex(
      await this.hash(session.id, listed, staging, staged.sizeBytes, signal),
    );
    if (digest !== session.expectedDigest) {
      throw new VerificationFailure(
        'UPLOAD_DIGEST_MISMATCH',
        `The uploaded content hashes to ${digest}, not to the expected ${session.expectedDigest}.`,
      );
    }
    signal.throwIfAborted();

    const key = casKeyOf(digest);
    await this.store.promote(staging, key);

    await this.dataSource.transaction(async (manager) => {
      await this.blobs.lockDigest(manager, digest);
      if (await this.blobs.isDeletionInFlight(manager, key)) {
        // The GC is deleting these bytes right now: promote again once it is done.
        throw new Error(`the object ${key} is being deleted; verification will be retried`);
      }
      await this.blobs.cancelObjectDeletion(manager, key);
      await this.blobs.insertIfAbsent(manager, {
        digest,
        sizeBytes: staged.sizeBytes,
        objectKey: key,
        verifiedUploadId: session.id,
      });
      await this.blobs.unmark(manager, digest);
      const held = await this.sessions.updateFenced(manager, claim, {
        state: 'ready',
        readyAt: new Date(),
        verifyLeaseUntil: null,
        failureMessage: null,
      });
      if (!held) throw new ClaimLostError();
    });
    await this.clearStaging(staging);
  }

  /**
   * The digest of the staged object: from the running hash where it covers the parts list, and
   * by reading the staged object from where it stops.
   */
  private async hash(
    uploadId: string,
    listed: readonly ListedPart[],
    staging: StagingRef,
    size: number,
    signal: AbortSignal,
  ): Promise<string> {
    const rows = await this.parts.findAll(uploadId);
    const links = new Map<number, ChainLink>(rows.map((r) => [r.partNumber, r]));
    const prefix = hashedPrefix(listed, links);
    let hasher: RunningSha256 = new FastSha256();
    let start = 0;
    if (prefix.state) {
      try {
        if (prefix.parts === listed.length)
          return await ResumableSha256.digestOfState(prefix.state);
        hasher = await ResumableSha256.create(prefix.state);
        start = prefix.bytes;
      } catch (error) {
        // A state this build cannot load (hash-wasm upgraded): hash everything instead.
        this.logger.warn(
          { err: error, uploadId },
          'unusable saved hash state; reading the whole upload',
        );
      }
    }
    if (start < size) {
      const stream = await this.store.readStaged(staging, {
        range: start > 0 ? { start, end: size - 1 } : undefined,
        signal,
      });
      let read = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        await hasher.update(chunk);
        read += chunk.length;
      }
      if (read !== size - start)
        throw new Error(`read ${read} bytes of the staged object, expected ${size - start}`);
    }
    return await hasher.hex();
  }

  private async fail(claim: VerificationClaim, failure: VerificationFailure): Promise<boolean> {
    const held = await this.sessions.updateFenced(this.dataSource.manager, claim, {
      state: 'failed',
      failureCode: failure.code,
      failureMessage: failure.message,
      verifyLeaseUntil: null,
    });
    if (held) {
      await this.clearStaging({ id: claim.session.id, token: claim.session.stagingToken });
    }
    return held;
  }

  /** Best effort: the staging sweeper retries whatever is left. */
  private async clearStaging(staging: StagingRef): Promise<void> {
    try {
      await this.store.deleteStaging(staging);
      await this.sessions.markStagingCleared(staging.id);
    } catch (error) {
      this.logger.warn(
        { err: error, uploadId: staging.id },
        'could not remove staging; the sweeper will',
      );
    }
  }
}
