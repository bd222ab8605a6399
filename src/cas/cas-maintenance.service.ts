import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { BLOB_STORE, type BlobStore } from './blob-store/blob-store';
import { BlobReferenceRegistry } from './blob-references';
import { CasBlobRepository, type MarkCursor, type UncitedBlob } from './cas-blob.repository';
import { CasJobs } from './cas.queue';
import { CasMetrics } from './cas.metrics';
import { UploadSessionRepository } from './upload-session.repository';
import { isTerminal } from './upload-state';

/** Rows each sweeper step handles per run. */
export const SWEEP_BATCH = 200;
const BATCH = SWEEP_BATCH;
/** Mark candidates looked at per collection at most (cited ones included). */
const MARK_SCAN_LIMIT = 10 * BATCH;
/** How long a GC mark must stand before its blob is deleted: citing transactions' window. */
export const GC_MARK_DELAY_MS = 5 * 60_000;
/** A byte deleter's claim on an object; longer than any single store call can take. */
const DELETE_CLAIM_MS = 10 * 60_000;

const SYSTEM = { principal: null, requestId: null } as const;

export interface GcOptions {
  /** Unreferenced for at least this long (default IMGSRV_CAS_GC_GRACE). */
  readonly graceMs?: number;
  /** Marked for at least this long before deletion (default 5 minutes). */
  readonly markDelayMs?: number;
  /** Between deleting the row and deleting the bytes (default IMGSRV_CAS_GC_DELETE_DELAY). */
  readonly deleteDelayMs?: number;
}

export interface SweepReport {
  readonly expired: number;
  readonly stagingCleared: number;
  readonly verificationsRequeued: number;
  readonly marked: number;
  readonly deleted: number;
  /** Sizes of the blobs whose rows were deleted (their bytes go after the delete delay). */
  readonly deletedBytes: number;
  readonly objectsDeleted: number;
}

/** What a GC run would do, found with the same rules and without changing anything. */
export interface GarbagePreview {
  readonly graceMs: number;
  readonly markDelayMs: number;
  /**
   * Unreferenced blobs past the grace period. `markDue`: the next run deletes the row (bytes
   * follow after the delete delay); marked but not due: a later run does; unmarked: the next run
   * marks it.
   */
  readonly blobs: readonly UncitedBlob[];
  /** Bytes whose rows are gone, waiting for the delete delay; `due`: the next run deletes them. */
  readonly objects: readonly {
    readonly objectKey: string;
    readonly digest: string;
    readonly deleteAfter: Date;
    readonly due: boolean;
    /** null when the object is already gone from the store. */
    readonly sizeBytes: number | null;
  }[];
}

/**
 * The sweepers: expire sessions past their TTL, remove staging nothing needs, hand stalled
 * verifications to a worker again, and collect garbage (mark, then delete rows, then bytes).
 * Each works from PostgreSQL, in bounded batches, and is safe to run on several workers at once.
 */
@Injectable()
export class CasMaintenanceService {
  /** Where the last scan for mark candidates stopped (null: from the oldest). */
  private markCursor: MarkCursor | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly sessions: UploadSessionRepository,
    private readonly blobs: CasBlobRepository,
    private readonly references: BlobReferenceRegistry,
    private readonly jobs: CasJobs,
    private readonly metrics: CasMetrics,
    private readonly audit: AuditService,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async sweep(gc: GcOptions = {}): Promise<SweepReport> {
    const expired = await this.expireSessions();
    const stagingCleared = await this.cleanStaging();
    const verificationsRequeued = await this.requeueVerifications();
    const { marked, deleted, deletedBytes } = await this.collectGarbage(gc);
    const objectsDeleted = await this.deleteDueObjects();
    const report = {
      expired,
      stagingCleared,
      verificationsRequeued,
      marked,
      deleted,
      deletedBytes,
      objectsDeleted,
    };
    if (Object.values(report).some((n) => n > 0)) this.logger.info(report, 'cas sweep');
    return report;
  }

  /** Open sessions past their expiry become `expired`, and their staged bytes go. */
  async expireSessions(): Promise<number> {
    const expired = await this.sessions.expireDue(BATCH);
    for (const s of expired) {
      await this.clearStaging(s.id, s.stagingCreated ? s.stagingToken : undefined);
    }
    return expired.length;
  }

  /**
   * Staging that nothing needs: that of finished sessions (a crash or an unreachable store kept
   * it), and staging areas in the store that no session owns, or whose session is finished.
   */
  async cleanStaging(): Promise<number> {
    let cleared = 0;
    for (const s of await this.sessions.findStagingLeft(BATCH)) {
      if (await this.clearStaging(s.id, s.stagingCreated ? s.stagingToken : undefined)) cleared++;
    }
    const present = await this.store.listStaging();
    const owners = new Map(
      (await this.sessions.findByIds(present.map((p) => p.id))).map((s) => [s.id, s]),
    );
    for (const staging of present) {
      const owner = owners.get(staging.id);
      if (owner && !isTerminal(owner.state)) continue;
      try {
        await this.store.deleteStaging({
          id: staging.id,
          token: staging.token ?? owner?.stagingToken ?? null,
        });
        cleared++;
      } catch (error) {
        this.logger.warn({ err: error, uploadId: staging.id }, 'could not remove orphaned staging');
      }
    }
    return cleared;
  }

  /** Completed uploads whose verifier crashed or never started: wake a worker for each. */
  async requeueVerifications(): Promise<number> {
    const ids = await this.sessions.findUnclaimedVerifications(BATCH);
    for (const s of await this.sessions.findByIds(ids)) {
      await this.jobs.enqueueVerification(s.id, s.verifyAttempt);
    }
    return ids.length;
  }

  /**
   * Garbage collection of trusted blobs in two steps. Mark: blobs older than the grace period
   * that nothing cites (no upload session, no registered source). Delete: under the digest's
   * lock, a blob still marked after the mark delay, and still uncited, loses its row (through the
   * trigger's GC path); its bytes are scheduled for deletion after the delete delay. Whoever
   * cites the digest meanwhile removes the mark (BlobProtection.protectBlob, begin), and wins.
   */
  async collectGarbage(
    options: GcOptions = {},
  ): Promise<{ marked: number; deleted: number; deletedBytes: number }> {
    const graceMs = options.graceMs ?? this.config.cas.gcGraceMs;
    const markDelayMs = options.markDelayMs ?? GC_MARK_DELAY_MS;
    const deleteDelayMs = options.deleteDelayMs ?? this.config.cas.gcDeleteDelayMs;

    // Candidates that a manifest cites are never marked and stay old, so the scan pages on from
    // where the last one stopped (wrapping at the end) instead of re-reading the oldest page.
    let marked = 0;
    for (let scanned = 0; scanned < MARK_SCAN_LIMIT && marked < BATCH;) {
      const page = await this.blobs.findMarkCandidates(graceMs, BATCH, this.markCursor);
      scanned += page.length;
      this.markCursor = page.length === BATCH ? page[page.length - 1].cursor : null;
      const digests = page.map((c) => c.digest);
      const cited = await this.references.citedDigests(this.dataSource.manager, digests, graceMs);
      marked += await this.blobs.insertMarks(
        this.dataSource.manager,
        digests.filter((d) => !cited.has(d)),
      );
      if (!this.markCursor) break;
    }

    let deleted = 0;
    let deletedBytes = 0;
    for (const digest of await this.blobs.findMarksOlderThan(markDelayMs, BATCH)) {
      const gone = await this.dataSource.transaction(async (manager) => {
        await this.blobs.lockDigest(manager, digest);
        if (!(await this.blobs.isMarkedSince(manager, digest, markDelayMs))) return null;
        const citedNow =
          (await this.sessions.citedDigests(manager, [digest], graceMs)).has(digest) ||
          (await this.references.citedDigests(manager, [digest], graceMs)).has(digest);
        if (citedNow) {
          await this.blobs.unmark(manager, digest);
          return null;
        }
        const row = await this.blobs.deleteMarkedAsGc(manager, digest);
        if (!row) return null;
        await this.blobs.scheduleObjectDeletion(manager, row.objectKey, digest, deleteDelayMs);
        await this.audit.record(manager, {
          actor: SYSTEM,
          action: 'blob.gc_delete',
          targetType: 'cas_blob',
          targetId: digest,
          detail: { digest, size_bytes: row.sizeBytes },
        });
        return row;
      });
      if (gone) {
        deleted++;
        deletedBytes += gone.sizeBytes;
        this.metrics.gcDeletedBlobs.inc();
        this.metrics.gcDeletedBytes.inc(gone.sizeBytes);
      }
    }
    return { marked, deleted, deletedBytes };
  }

  /**
   * What collectGarbage and deleteDueObjects would do now, without marking or deleting: the
   * blobs the mark step would pick (every one, not a batch) or already marked, minus those a
   * registered reference source cites, and the pending byte deletions.
   */
  async previewGarbage(options: Pick<GcOptions, 'graceMs'> = {}): Promise<GarbagePreview> {
    const graceMs = options.graceMs ?? this.config.cas.gcGraceMs;
    const uncited = await this.blobs.findUncitedPastGrace(graceMs, GC_MARK_DELAY_MS);
    const blobs: UncitedBlob[] = [];
    for (let i = 0; i < uncited.length; i += BATCH) {
      const chunk = uncited.slice(i, i + BATCH);
      const cited = await this.references.citedDigests(
        this.dataSource.manager,
        chunk.map((b) => b.digest),
        graceMs,
      );
      blobs.push(...chunk.filter((b) => !cited.has(b.digest)));
    }
    const objects = [];
    for (const o of await this.blobs.findObjectDeletions()) {
      const stat = await this.store.stat(o.objectKey);
      objects.push({
        objectKey: o.objectKey,
        digest: o.digest,
        deleteAfter: o.deleteAfter,
        due: o.due,
        sizeBytes: stat?.sizeBytes ?? null,
      });
    }
    return { graceMs, markDelayMs: GC_MARK_DELAY_MS, blobs, objects };
  }

  /**
   * Deletes the bytes of blobs whose rows went at least the delete delay ago. A digest trusted
   * again meanwhile cancels the deletion; the claim keeps a new upload's promotion waiting while
   * the bytes are going.
   */
  async deleteDueObjects(): Promise<number> {
    const owner = randomUUID();
    let deleted = 0;
    for (const due of await this.blobs.findDueObjectDeletions(BATCH)) {
      const claimed = await this.dataSource.transaction(async (manager) => {
        await this.blobs.lockDigest(manager, due.digest);
        if (await this.blobs.findByDigest(due.digest, manager)) {
          await this.blobs.cancelObjectDeletion(manager, due.objectKey);
          return false;
        }
        return this.blobs.claimObjectDeletion(manager, due.objectKey, owner, DELETE_CLAIM_MS);
      });
      if (!claimed) continue;
      try {
        await this.store.delete(due.objectKey);
        await this.blobs.finishObjectDeletion(due.objectKey, owner);
        deleted++;
        this.metrics.objectsDeleted.inc();
      } catch (error) {
        this.logger.warn(
          { err: error, key: due.objectKey },
          'could not delete a CAS object; retrying later',
        );
      }
    }
    return deleted;
  }

  private async clearStaging(id: string, token: string | null | undefined): Promise<boolean> {
    try {
      if (token !== undefined) await this.store.deleteStaging({ id, token });
      await this.sessions.markStagingCleared(id);
      return true;
    } catch (error) {
      this.logger.warn({ err: error, uploadId: id }, 'could not remove staging; retrying later');
      return false;
    }
  }
}
