import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { finished, type Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError, type FieldError } from '../common/errors/domain-error';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { BlobReferenceRegistry } from './blob-references';
import { BLOB_STORE, type BlobStore, type StagingRef } from './blob-store/blob-store';
import type { ByteRange } from '../common/http/byte-range';
import { CasBlobRepository } from './cas-blob.repository';
import { toStoredParts, fromStoredParts, type UploadSessionEntity } from './cas.entities';
import { CasJobs } from './cas.queue';
import { CasMetrics } from './cas.metrics';
import { casKeyOf, isDigest, parseContentDigest } from './digest';
import { PartMeter } from './part-meter';
import { FastSha256, ResumableSha256 } from './sha256-state';
import {
  checkPartSizes,
  checkPartsList,
  checkPartsReceived,
  isValidPartNumber,
  MAX_BLOB_SIZE,
  MAX_PART_SIZE,
  samePartsList,
  totalSize,
  type ListedPart,
} from './upload-parts';
import { UploadPartRepository } from './upload-part.repository';
import { UploadSessionRepository } from './upload-session.repository';
import { effectiveState, isOpen, isStalled, type UploadState } from './upload-state';
import { UploadVerifier } from './upload-verifier';

export interface BeginUploadInput {
  readonly expectedDigest: string;
  readonly expectedSizeBytes: number;
  readonly mediaTypeHint?: string | null;
  readonly filenameHint?: string | null;
}

/** An upload session as docs/uploads.md describes it (the controller writes it in snake_case). */
export interface UploadSessionView {
  readonly id: string;
  readonly expectedDigest: string;
  readonly expectedSizeBytes: number;
  readonly state: UploadState;
  readonly expiresAt: Date;
  readonly mediaTypeHint: string | null;
  readonly filenameHint: string | null;
  readonly failureMessage: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface UploadPartView {
  readonly partNumber: number;
  readonly sizeBytes: number;
  readonly etag: string;
}

export interface UploadSessionDetail extends UploadSessionView {
  /** Parts received so far, in part-number order: what a client resumes from. */
  readonly parts: UploadPartView[];
}

export interface BeginUploadResult {
  readonly session: UploadSessionView;
  /** false: the digest was already trusted and the session is `ready` (answer 200, not 201). */
  readonly created: boolean;
}

export interface PutPartInput {
  readonly uploadId: string;
  readonly partNumber: number;
  /** The raw request body, streamed to the store as it arrives. */
  readonly body: Readable;
  /** The Content-Length header, or null when the request had none (411). */
  readonly contentLength: number | null;
  /** The Content-Digest header, if any. */
  readonly contentDigest?: string | null;
}

export interface PutPartResult extends UploadPartView {
  readonly uploadId: string;
}

export interface BlobView {
  readonly digest: string;
  readonly sizeBytes: number;
  readonly createdAt: Date;
}

const HINT_MAX = 255;

/** The server acting on its own behalf (no principal): may use any upload session. */
const SERVER: Actor = { principal: null, requestId: null };

/** Where a part continues the running hash: its state, the part before, the offset it starts at. */
interface ChainStart {
  readonly hasher: ResumableSha256;
  readonly prev: { readonly part: number; readonly etag: string } | null;
  readonly start: number;
}

function toView(s: UploadSessionEntity, now = new Date()): UploadSessionView {
  return {
    id: s.id,
    expectedDigest: s.expectedDigest,
    expectedSizeBytes: s.expectedSizeBytes,
    state: effectiveState(s.state, s.expiresAt, now),
    expiresAt: s.expiresAt,
    mediaTypeHint: s.mediaTypeHint,
    filenameHint: s.filenameHint,
    failureMessage: s.failureMessage,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

function checkHint(value: string | null | undefined, pointer: string): FieldError[] {
  if (value === undefined || value === null) return [];
  if (
    typeof value !== 'string' ||
    value.length > HINT_MAX ||
    [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
  ) {
    return [
      { pointer, detail: `must be at most ${HINT_MAX} characters without control characters` },
    ];
  }
  return [];
}

/**
 * The upload protocol and blob reads (docs/uploads.md). Methods take parsed inputs
 * and the acting principal, and answer plain objects; a thin controller maps them to HTTP.
 */
@Injectable()
export class CasService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sessions: UploadSessionRepository,
    private readonly parts: UploadPartRepository,
    private readonly blobs: CasBlobRepository,
    private readonly verifier: UploadVerifier,
    private readonly jobs: CasJobs,
    private readonly metrics: CasMetrics,
    private readonly audit: AuditService,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly references: BlobReferenceRegistry,
  ) {}

  /**
   * Opens an upload session for an expected digest and size. When the digest is trusted
   * already, no bytes need to move: the session is `ready` at once (409 if the size differs).
   */
  async begin(input: BeginUploadInput, actor: Actor): Promise<BeginUploadResult> {
    const errors: FieldError[] = [];
    if (!isDigest(input.expectedDigest)) {
      errors.push({ pointer: '/expected_digest', detail: 'must match ^sha256:[0-9a-f]{64}$' });
    }
    if (
      !Number.isSafeInteger(input.expectedSizeBytes) ||
      input.expectedSizeBytes < 0 ||
      input.expectedSizeBytes > MAX_BLOB_SIZE
    ) {
      errors.push({
        pointer: '/expected_size_bytes',
        detail: `must be a whole number of bytes up to ${MAX_BLOB_SIZE}`,
      });
    }
    errors.push(...checkHint(input.mediaTypeHint, '/media_type_hint'));
    errors.push(...checkHint(input.filenameHint, '/filename_hint'));
    if (errors.length) throw DomainError.validation(errors);

    const digest = input.expectedDigest;
    const { session, created } = await this.dataSource.transaction(async (manager) => {
      await this.blobs.lockDigest(manager, digest);
      const trusted = await this.blobs.findByDigest(digest, manager);
      if (trusted && trusted.sizeBytes !== input.expectedSizeBytes) {
        throw new DomainError(
          'UPLOAD_SIZE_CONFLICT',
          `${digest} is trusted with ${trusted.sizeBytes} bytes, not ${input.expectedSizeBytes}.`,
          { size_bytes: trusted.sizeBytes },
        );
      }
      // Citing the digest again takes it out of the GC's hands.
      if (trusted) await this.blobs.unmark(manager, digest);
      const now = new Date();
      const row = await this.sessions.insert(manager, {
        id: randomUUID(),
        expectedDigest: digest,
        expectedSizeBytes: input.expectedSizeBytes,
        state: trusted ? 'ready' : 'created',
        mediaTypeHint: input.mediaTypeHint ?? null,
        filenameHint: input.filenameHint ?? null,
        createdBy: actor.principal?.id ?? null,
        expiresAt: new Date(now.getTime() + this.config.cas.uploadTtlMs),
        ...(trusted ? { readyAt: now, stagingClearedAt: now } : {}),
      });
      await this.audit.record(manager, {
        actor,
        action: 'upload.begin',
        targetType: 'upload_session',
        targetId: row.id,
        detail: { digest, size_bytes: input.expectedSizeBytes, already_trusted: Boolean(trusted) },
      });
      return { session: row, created: !trusted };
    });
    if (created) await this.ensureStaging(session);
    return { session: toView(session), created };
  }

  async getSession(uploadId: string, actor: Actor): Promise<UploadSessionDetail> {
    const session = await this.findSession(uploadId, actor);
    const parts = await this.parts.findAll(uploadId);
    return {
      ...toView(session),
      parts: parts.map((p) => ({ partNumber: p.partNumber, sizeBytes: p.sizeBytes, etag: p.etag })),
    };
  }

  /**
   * Streams one part to the store. Parts arriving in order extend the session's running
   * SHA-256, whose state is saved with the part, so completion need not read them again — from
   * this process or any other.
   */
  async putPart(input: PutPartInput, actor: Actor): Promise<PutPartResult> {
    const { uploadId, partNumber, contentLength } = input;
    if (!isValidPartNumber(partNumber)) {
      throw new DomainError(
        'UPLOAD_PART_NUMBER_INVALID',
        `Part number ${partNumber} is outside 1-10000.`,
      );
    }
    if (contentLength === null) {
      throw new DomainError('LENGTH_REQUIRED', 'A part needs a Content-Length.');
    }
    if (!Number.isSafeInteger(contentLength) || contentLength < 0) {
      throw DomainError.validation([
        { pointer: '/headers/content-length', detail: 'must be a whole number of bytes' },
      ]);
    }
    if (contentLength > MAX_PART_SIZE) {
      throw new DomainError('UPLOAD_PART_TOO_LARGE', 'A part carries at most 5 GiB.');
    }
    const contentDigest = parseContentDigest(input.contentDigest);
    if (contentDigest.kind === 'malformed') {
      throw DomainError.validation([
        { pointer: '/headers/content-digest', detail: contentDigest.reason },
      ]);
    }

    const session = await this.findSession(uploadId, actor);
    this.assertAcceptsParts(session);
    if (contentLength > session.expectedSizeBytes) {
      throw new DomainError(
        'UPLOAD_PART_TOO_LARGE',
        `The part (${contentLength} bytes) is larger than the whole upload (${session.expectedSizeBytes} bytes).`,
      );
    }
    const staging = await this.ensureStaging(session);

    // Continue the running hash when this part follows a hashed one (or is the first).
    let chain: ChainStart | null = null;
    if (partNumber === 1) {
      chain = { hasher: await ResumableSha256.create(), prev: null, start: 0 };
    } else {
      const prev = await this.parts.findPredecessor(uploadId, partNumber);
      if (prev?.hashState && prev.chainEnd !== null) {
        try {
          chain = {
            hasher: await ResumableSha256.create(prev.hashState),
            prev: { part: prev.partNumber, etag: prev.etag },
            start: prev.chainEnd,
          };
        } catch {
          chain = null;
        }
      }
    }
    const partHash = contentDigest.kind === 'sha256' ? new FastSha256() : null;
    const meter = new PartMeter(
      contentLength,
      [chain?.hasher, partHash].filter((h) => h !== undefined && h !== null),
    );

    // Not pipeline(), which destroys the request when the store fails: the answer (507 when the
    // store is full) must reach a client still sending, so the rest of its body is dropped below.
    let bodyError: unknown;
    // The meter's failures reach us through the store's rejection and meter.failure; one the
    // meter emits after the store stopped reading it must not go unhandled.
    meter.on('error', () => undefined);
    input.body.pipe(meter);
    finished(input.body, (error) => {
      if (!error) return;
      bodyError = error;
      meter.destroy(error);
    });
    let stored;
    try {
      stored = await this.store.putPart(staging, partNumber, meter, contentLength, {
        appendAt: chain?.start,
      });
    } catch (error) {
      chain?.hasher.dispose();
      input.body.unpipe(meter);
      input.body.resume();
      // The staging area went away under the part: the session was aborted or expired meanwhile.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        const now = await this.sessions.findById(uploadId);
        const state = now && effectiveState(now.state, now.expiresAt, new Date());
        if (state && !isOpen(state)) throw this.notOpen(state);
      }
      if (meter.failure === 'too_long') {
        throw new DomainError(
          'UPLOAD_PART_TOO_LARGE',
          'The body is longer than its Content-Length.',
        );
      }
      if (error instanceof DomainError && error.code === 'STORAGE_FULL') {
        // Not the client's doing: the session takes the part once space returns.
        this.metrics.storeFull.inc({ operation: 'part' });
        throw error;
      }
      if (meter.failure === 'too_short' || bodyError !== undefined || !input.body.readableEnded) {
        throw new DomainError(
          'UPLOAD_PART_INCOMPLETE',
          `The body of part ${partNumber} ended after ${meter.bytes} of ${contentLength} bytes; send the part again.`,
        );
      }
      throw error;
    }

    if (
      partHash &&
      contentDigest.kind === 'sha256' &&
      !partHash.bytes().equals(contentDigest.bytes)
    ) {
      // The store may already hold these bytes under this number (S3 replaces at once), so the
      // number is forgotten altogether: the client sends the part again.
      chain?.hasher.dispose();
      const oldEtag = await this.dataSource.transaction(async (manager) => {
        await this.sessions.lockById(manager, uploadId);
        return this.parts.delete(manager, uploadId, partNumber);
      });
      await this.dropPart(staging, partNumber, stored.etag);
      if (oldEtag) await this.dropPart(staging, partNumber, oldEtag);
      throw new DomainError(
        'UPLOAD_PART_DIGEST_MISMATCH',
        `Part ${partNumber} does not match its Content-Digest; it was discarded.`,
      );
    }

    let replaced: string | null;
    try {
      const hashState = chain ? await chain.hasher.save() : null;
      replaced = await this.dataSource.transaction(async (manager) => {
        const locked = await this.sessions.lockById(manager, uploadId);
        if (!locked) throw new DomainError('UPLOAD_NOT_FOUND', `No upload session ${uploadId}.`);
        this.assertAcceptsParts(locked);
        const old = await this.parts.upsert(manager, {
          uploadId,
          partNumber,
          sizeBytes: contentLength,
          etag: stored.etag,
          hashState,
          chainPrevPart: chain?.prev?.part ?? null,
          chainPrevEtag: chain?.prev?.etag ?? null,
          chainEnd: chain ? chain.start + contentLength : null,
        });
        if (locked.state === 'created')
          await this.sessions.update(manager, uploadId, { state: 'uploading' });
        return old;
      });
    } catch (error) {
      await this.dropPart(staging, partNumber, stored.etag);
      throw error;
    } finally {
      chain?.hasher.dispose();
    }
    if (replaced && replaced !== stored.etag) await this.dropPart(staging, partNumber, replaced);
    this.metrics.bytesReceived.inc(contentLength);
    return { uploadId, partNumber, etag: stored.etag, sizeBytes: contentLength };
  }

  /**
   * Freezes the parts list and verifies the upload. Answers the session `ready` when that
   * finishes within IMGSRV_UPLOAD_VERIFY_WAIT, else `verifying` while a worker job carries on.
   * Repeating complete with the same list answers the session as it is.
   */
  async complete(
    uploadId: string,
    listed: readonly ListedPart[],
    actor: Actor,
  ): Promise<UploadSessionView> {
    const shape = checkPartsList(listed);
    if (shape.length) throw DomainError.validation(shape);
    await this.findSession(uploadId, actor);

    const outcome = await this.dataSource.transaction(async (manager) => {
      const session = await this.sessions.lockById(manager, uploadId);
      if (!session) throw new DomainError('UPLOAD_NOT_FOUND', `No upload session ${uploadId}.`);
      const state = effectiveState(session.state, session.expiresAt, new Date());
      if (!isOpen(state)) {
        const frozen = session.completedParts ? fromStoredParts(session.completedParts) : null;
        const repeat =
          ['completed', 'verifying', 'ready', 'failed'].includes(state) &&
          (frozen === null ? state === 'ready' : samePartsList(frozen, listed));
        if (repeat) return { kind: 'unchanged' as const, session };
        if (frozen) {
          throw new DomainError(
            'UPLOAD_ALREADY_COMPLETED',
            'The upload was completed with a different parts list.',
            { state },
          );
        }
        throw this.notOpen(state);
      }
      const received = new Map(
        (await this.parts.findAll(uploadId, manager)).map((p) => [p.partNumber, p]),
      );
      const mismatch = checkPartsReceived(listed, received);
      if (mismatch.length) {
        throw new DomainError('UPLOAD_PART_MISMATCH', mismatch.map((e) => e.detail).join('; '), {
          errors: mismatch,
        });
      }
      const small = checkPartSizes(listed);
      if (small.length) {
        throw new DomainError('UPLOAD_PART_TOO_SMALL', small.map((e) => e.detail).join('; '), {
          errors: small,
        });
      }
      const total = totalSize(listed);
      // The client's list is wrong, not its bytes: say so and keep the session open, so a
      // corrected list (or the missing parts, then the list) completes it.
      if (total !== session.expectedSizeBytes) {
        throw new DomainError(
          'UPLOAD_PARTS_SIZE_MISMATCH',
          `The listed parts hold ${total} bytes; ${session.expectedSizeBytes} are expected. The session stays open.`,
          { size_bytes: total, expected_size_bytes: session.expectedSizeBytes },
        );
      }
      const now = new Date();
      const frozen = { completedParts: toStoredParts(listed), completedAt: now };
      await this.audit.record(manager, {
        actor,
        action: 'upload.complete',
        targetType: 'upload_session',
        targetId: uploadId,
        detail: { digest: session.expectedDigest, parts: listed.length, size_bytes: total },
      });
      const completed = await this.sessions.update(manager, uploadId, {
        ...frozen,
        state: 'completed',
      });
      return { kind: 'completed' as const, session: completed };
    });

    if (outcome.kind === 'unchanged') return toView(outcome.session);

    await this.verifyWithin(uploadId, this.config.cas.verifyWaitMs);
    const session = await this.findSession(uploadId, actor);
    if (session.state === 'failed') throw this.failureError(session);
    return toView(session);
  }

  /**
   * Ends an open session, or a verification stalled for lack of space, and frees its staged
   * bytes; aborting again answers the same.
   */
  async abort(uploadId: string, actor: Actor): Promise<UploadSessionView> {
    await this.findSession(uploadId, actor);
    const { session, changed } = await this.dataSource.transaction(async (manager) => {
      const row = await this.sessions.lockById(manager, uploadId);
      if (!row) throw new DomainError('UPLOAD_NOT_FOUND', `No upload session ${uploadId}.`);
      if (row.state === 'aborted') return { session: row, changed: false };
      const state = effectiveState(row.state, row.expiresAt, new Date());
      // A verifier retrying the stalled session meanwhile is fenced out by the state.
      if (!isOpen(state) && !isStalled(row.state, row.failureMessage)) throw this.notOpen(state);
      const aborted = await this.sessions.update(manager, uploadId, { state: 'aborted' });
      await this.audit.record(manager, {
        actor,
        action: 'upload.abort',
        targetType: 'upload_session',
        targetId: uploadId,
        detail: { digest: row.expectedDigest },
      });
      return { session: aborted, changed: true };
    });
    if (changed) await this.clearStaging(session);
    return toView(session);
  }

  /** Did this principal begin an upload of `digest`? (It may read the blob until a version cites it.) */
  uploadedBy(principalId: string, digest: string): Promise<boolean> {
    return this.sessions.uploadedBy(principalId, digest);
  }

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

  /**
   * For modules that cite a digest (the catalog adding an artifact or attachment): call inside
   * the citing transaction. It waits for a GC deciding that digest's fate and withdraws any
   * pending GC mark, so the citation wins the race.
   */
  async protectBlob(manager: EntityManager, digest: string): Promise<void> {
    if (!isDigest(digest)) return;
    await this.blobs.lockDigest(manager, digest);
    await this.blobs.unmark(manager, digest);
  }

  private async verifyWithin(uploadId: string, waitMs: number): Promise<void> {
    if (waitMs <= 0) {
      await this.handOver(uploadId);
      return;
    }
    const timeout = AbortSignal.timeout(waitMs);
    try {
      const outcome = await this.verifier.verify(uploadId, { signal: timeout });
      if (outcome === 'busy') await this.handOver(uploadId);
    } catch (error) {
      if (!timeout.aborted) {
        this.logger.warn(
          { err: error, uploadId },
          'verification failed for now; a worker retries it',
        );
      }
      await this.handOver(uploadId);
    }
  }

  private async handOver(uploadId: string): Promise<void> {
    const session = await this.sessions.findById(uploadId);
    if (session && ['completed', 'verifying'].includes(session.state)) {
      await this.jobs.enqueueVerification(uploadId, session.verifyAttempt);
    }
  }

  private async findSession(uploadId: string, actor: Actor): Promise<UploadSessionEntity> {
    const session = /^[0-9a-f-]{36}$/.test(uploadId)
      ? await this.sessions.findById(uploadId)
      : null;
    if (!session || !(await this.mayUse(session, actor)))
      throw new DomainError('UPLOAD_NOT_FOUND', `No upload session ${uploadId}.`);
    return session;
  }

  /**
   * An upload session belongs to whoever began it, and to principals allowed to write an image
   * whose versions cite its digest; to anyone else it does not exist (the same 404). The server
   * itself (no principal) may use any.
   */
  private async mayUse(session: UploadSessionEntity, actor: Actor): Promise<boolean> {
    const principal = actor.principal;
    if (!principal || session.createdBy === principal.id) return true;
    for (const image of await this.references.imagesCiting(session.expectedDigest))
      if (principal.can('content.write', image)) return true;
    return false;
  }

  private assertAcceptsParts(session: UploadSessionEntity): void {
    const state = effectiveState(session.state, session.expiresAt, new Date());
    if (!isOpen(state)) throw this.notOpen(state);
  }

  private notOpen(state: UploadState): DomainError {
    const why: Partial<Record<UploadState, string>> = {
      aborted: 'was aborted',
      expired: 'has expired',
      ready: 'is complete and ready',
      completed: 'is being completed',
      verifying: 'is being verified',
      failed: 'failed verification',
    };
    return new DomainError(
      'UPLOAD_NOT_OPEN',
      `The upload session ${why[state] ?? `is ${state}`}.`,
      {
        state,
      },
    );
  }

  private failureError(session: UploadSessionEntity): DomainError {
    const code =
      session.failureCode === 'UPLOAD_DIGEST_MISMATCH' ||
      session.failureCode === 'UPLOAD_SIZE_MISMATCH'
        ? session.failureCode
        : 'UPLOAD_PART_MISMATCH';
    return new DomainError(code, session.failureMessage ?? 'The upload failed verification.', {
      upload_id: session.id,
      state: 'failed',
    });
  }

  /** The session's staging area, created now if begin could not (store away, crash). */
  private async ensureStaging(session: UploadSessionEntity): Promise<StagingRef> {
    if (session.stagingCreated) return { id: session.id, token: session.stagingToken };
    const staging = await this.store.createStaging(session.id);
    if (await this.sessions.recordStaging(session.id, staging.token)) return staging;
    // Another request created it first: use theirs, and drop ours if it is a separate one.
    if (staging.token) await this.store.deleteStaging(staging).catch(() => undefined);
    const winner = await this.findSession(session.id, SERVER);
    return { id: winner.id, token: winner.stagingToken };
  }

  private async dropPart(staging: StagingRef, partNumber: number, etag: string): Promise<void> {
    try {
      await this.store.deletePart(staging, { partNumber, etag });
    } catch (error) {
      this.logger.warn({ err: error, uploadId: staging.id, partNumber }, 'could not delete a part');
    }
  }

  private async clearStaging(session: UploadSessionEntity): Promise<void> {
    if (!session.stagingCreated) {
      await this.sessions.markStagingCleared(session.id);
      return;
    }
    try {
      await this.store.deleteStaging({ id: session.id, token: session.stagingToken });
      await this.sessions.markStagingCleared(session.id);
    } catch (error) {
      this.logger.warn(
        { err: error, uploadId: session.id },
        'could not remove staging; the sweeper will',
      );
    }
  }
}
