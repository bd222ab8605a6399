import { Inject, Injectable } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { DomainError } from '../common/errors/domain-error';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { BlobReferenceRegistry } from './blob-references';
import { BLOB_STORE, type BlobStore, type StagingRef } from './blob-store/blob-store';
import type { UploadSessionEntity } from './cas.entities';
import { UploadSessionRepository } from './upload-session.repository';
import { effectiveState, isOpen, type UploadState } from './upload-state';

/** The server acting on its own behalf (no principal): may use any upload session. */
const SERVER: Actor = { principal: null, requestId: null };

/**
 * What the upload service and the part receiver share about a session: who may use it, whether it
 * takes parts, the errors that say why not, and its staging area in the blob store.
 */
@Injectable()
export class UploadSessions {
  constructor(
    private readonly repository: UploadSessionRepository,
    private readonly references: BlobReferenceRegistry,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async find(uploadId: string, actor: Actor): Promise<UploadSessionEntity> {
    const session = /^[0-9a-f-]{36}$/.test(uploadId)
      ? await this.repository.findById(uploadId)
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

  assertAcceptsParts(session: UploadSessionEntity): void {
    const state = effectiveState(session.state, session.expiresAt, new Date());
    if (!isOpen(state)) throw this.notOpen(state);
  }

  notOpen(state: UploadState): DomainError {
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

  failureError(session: UploadSessionEntity): DomainError {
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
  async ensureStaging(session: UploadSessionEntity): Promise<StagingRef> {
    if (session.stagingCreated) return { id: session.id, token: session.stagingToken };
    const staging = await this.store.createStaging(session.id);
    if (await this.repository.recordStaging(session.id, staging.token)) return staging;
    // Another request created it first: use theirs, and drop ours if it is a separate one.
    if (staging.token) await this.store.deleteStaging(staging).catch(() => undefined);
    const winner = await this.find(session.id, SERVER);
    return { id: winner.id, token: winner.stagingToken };
  }

  async dropPart(staging: StagingRef, partNumber: number, etag: string): Promise<void> {
    try {
      await this.store.deletePart(staging, { partNumber, etag });
    } catch (error) {
      this.logger.warn({ err: error, uploadId: staging.id, partNumber }, 'could not delete a part');
    }
  }

  async clearStaging(session: UploadSessionEntity): Promise<void> {
    if (!session.stagingCreated) {
      await this.repository.markStagingCleared(session.id);
      return;
    }
    try {
      await this.store.deleteStaging({ id: session.id, token: session.stagingToken });
      await this.repository.markStagingCleared(session.id);
    } catch (error) {
      this.logger.warn(
        { err: error, uploadId: session.id },
        'could not remove staging; the sweeper will',
      );
    }
  }
}
