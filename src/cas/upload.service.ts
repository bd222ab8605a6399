import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError, type FieldError } from '../common/errors/domain-error';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { CasBlobRepository } from './cas-blob.repository';
import { MAX_BLOB_SIZE, MAX_HINT_LENGTH } from './cas-limits';
import { fromStoredParts, toStoredParts } from './cas.entities';
import { CasJobs } from './cas.queue';
import { isDigest } from './digest';
import {
  checkPartSizes,
  checkPartsList,
  checkPartsReceived,
  samePartsList,
  totalSize,
  type ListedPart,
} from './upload-parts';
import { UploadPartRepository } from './upload-part.repository';
import { UploadSessionRepository } from './upload-session.repository';
import { UploadSessions } from './upload-sessions';
import { effectiveState, isOpen, isStalled } from './upload-state';
import {
  toView,
  type BeginUploadInput,
  type BeginUploadResult,
  type UploadSessionDetail,
  type UploadSessionView,
} from './upload.types';
import { UploadVerifier } from './upload-verifier';

/** A media type or file name hint: at most MAX_HINT_LENGTH characters, no control characters. */
export function checkHint(value: string | null | undefined, pointer: string): FieldError[] {
  if (value === undefined || value === null) return [];
  if (
    typeof value !== 'string' ||
    value.length > MAX_HINT_LENGTH ||
    [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
  ) {
    return [
      {
        pointer,
        detail: `must be at most ${MAX_HINT_LENGTH} characters without control characters`,
      },
    ];
  }
  return [];
}

/**
 * The upload protocol's sessions (docs/uploads.md): begin, read, complete (verification within
 * the request or handed to a worker) and abort. Parts arrive through PartReceiver. Methods take
 * parsed inputs and the acting principal, and answer plain objects; a thin controller maps them
 * to HTTP.
 */
@Injectable()
export class UploadService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sessions: UploadSessionRepository,
    private readonly parts: UploadPartRepository,
    private readonly blobs: CasBlobRepository,
    private readonly uploadSessions: UploadSessions,
    private readonly verifier: UploadVerifier,
    private readonly jobs: CasJobs,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
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
    if (created) await this.uploadSessions.ensureStaging(session);
    return { session: toView(session), created };
  }

  async getSession(uploadId: string, actor: Actor): Promise<UploadSessionDetail> {
    const session = await this.uploadSessions.find(uploadId, actor);
    const parts = await this.parts.findAll(uploadId);
    return {
      ...toView(session),
      parts: parts.map((p) => ({ partNumber: p.partNumber, sizeBytes: p.sizeBytes, etag: p.etag })),
    };
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
    await this.uploadSessions.find(uploadId, actor);

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
        throw this.uploadSessions.notOpen(state);
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
    const session = await this.uploadSessions.find(uploadId, actor);
    if (session.state === 'failed') throw this.uploadSessions.failureError(session);
    return toView(session);
  }

  /**
   * Ends an open session, or a verification stalled for lack of space, and frees its staged
   * bytes; aborting again answers the same.
   */
  async abort(uploadId: string, actor: Actor): Promise<UploadSessionView> {
    await this.uploadSessions.find(uploadId, actor);
    const { session, changed } = await this.dataSource.transaction(async (manager) => {
      const row = await this.sessions.lockById(manager, uploadId);
      if (!row) throw new DomainError('UPLOAD_NOT_FOUND', `No upload session ${uploadId}.`);
      if (row.state === 'aborted') return { session: row, changed: false };
      const state = effectiveState(row.state, row.expiresAt, new Date());
      // A verifier retrying the stalled session meanwhile is fenced out by the state.
      if (!isOpen(state) && !isStalled(row.state, row.failureMessage))
        throw this.uploadSessions.notOpen(state);
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
    if (changed) await this.uploadSessions.clearStaging(session);
    return toView(session);
  }

  /** Did this principal begin an upload of `digest`? (It may read the blob until a version cites it.) */
  uploadedBy(principalId: string, digest: string): Promise<boolean> {
    return this.sessions.uploadedBy(principalId, digest);
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
}
