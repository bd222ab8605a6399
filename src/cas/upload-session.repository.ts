import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { AuditAttribution } from '../audit/audit.service';
import { UploadSessionEntity, type StoredPart } from './cas.entities';
import { countOf, rowsOf } from './sql-result';
import type { UploadState } from './upload-state';

export type NewUploadSession = Pick<
  UploadSessionEntity,
  | 'id'
  | 'expectedDigest'
  | 'expectedSizeBytes'
  | 'state'
  | 'mediaTypeHint'
  | 'filenameHint'
  | 'createdBy'
  | 'expiresAt'
> &
  Partial<Pick<UploadSessionEntity, 'readyAt' | 'stagingClearedAt'>>;

/** What a verifier holds while it works: the session, fenced by (owner, attempt). */
export interface VerificationClaim {
  readonly session: UploadSessionEntity;
  readonly owner: string;
  readonly attempt: number;
}

/** Upload sessions: the authority on what each upload is doing. */
@Injectable()
export class UploadSessionRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, row: NewUploadSession): Promise<UploadSessionEntity> {
    await manager.insert(UploadSessionEntity, { verifyAttempt: 0, stagingCreated: false, ...row });
    return manager.getRepository(UploadSessionEntity).findOneByOrFail({ id: row.id });
  }

  /**
   * Opens a session its own request verifies as the bytes arrive (a whole blob in one request),
   * unless the digest is trusted already (null then): `verifying` from the start with its one part
   * listed, claimed by `owner` (attempt 1) under a lease, and the audit record of its begin — one
   * statement, one commit, as the request's latency is mostly round trips. Should the request's
   * process die, the lease lapses and a worker's verifier finishes the session (the staged object
   * is whole) or fails it.
   */
  async insertClaimed(row: {
    readonly id: string;
    readonly expectedDigest: string;
    readonly expectedSizeBytes: number;
    readonly mediaTypeHint: string | null;
    readonly completedParts: StoredPart[];
    readonly owner: string;
    readonly leaseMs: number;
    readonly ttlMs: number;
    readonly audit: AuditAttribution & { readonly detail: Record<string, unknown> };
  }): Promise<VerificationClaim | null> {
    const [stamps] = rowsOf<{
      created_at: Date;
      expires_at: Date;
      completed_at: Date;
      verify_lease_until: Date;
    }>(
      await this.dataSource.query(
        `WITH session AS (
           INSERT INTO upload_session (id, expected_digest, expected_size_bytes, state,
                                       media_type_hint, staging_created, completed_parts,
                                       completed_at, verify_owner, verify_attempt,
                                       verify_lease_until, created_by, expires_at)
           SELECT $1, $2, $3, 'verifying', $4, true, $5, now(), $6, 1,
                  now() + make_interval(secs => $7::double precision / 1000), $8,
                  now() + make_interval(secs => $9::double precision / 1000)
            WHERE NOT EXISTS (SELECT 1 FROM cas_blob WHERE digest = $2)
           RETURNING id, created_at, expires_at, completed_at, verify_lease_until
         ), audit AS (
           INSERT INTO audit_event (principal_id, principal_name, action, target_type, target_id,
                                    request_id, detail)
           SELECT $8, $10, 'upload.begin', 'upload_session', session.id::text, $11, $12
             FROM session
         )
         SELECT created_at, expires_at, completed_at, verify_lease_until FROM session`,
        [
          row.id,
          row.expectedDigest,
          row.expectedSizeBytes,
          row.mediaTypeHint,
          JSON.stringify(row.completedParts),
          row.owner,
          row.leaseMs,
          row.audit.principalId,
          row.ttlMs,
          row.audit.principalName,
          row.audit.requestId,
          JSON.stringify(row.audit.detail),
        ],
      ),
    );
    if (!stamps) return null;
    const session: UploadSessionEntity = {
      id: row.id,
      expectedDigest: row.expectedDigest,
      expectedSizeBytes: row.expectedSizeBytes,
      state: 'verifying',
      mediaTypeHint: row.mediaTypeHint,
      filenameHint: null,
      failureCode: null,
      failureMessage: null,
      stagingToken: null,
      stagingCreated: true,
      stagingClearedAt: null,
      completedParts: row.completedParts,
      assembledAt: null,
      verifyOwner: row.owner,
      verifyAttempt: 1,
      verifyLeaseUntil: stamps.verify_lease_until,
      createdBy: row.audit.principalId,
      expiresAt: stamps.expires_at,
      completedAt: stamps.completed_at,
      readyAt: null,
      createdAt: stamps.created_at,
      updatedAt: stamps.created_at,
    };
    return { session, owner: row.owner, attempt: 1 };
  }

  /**
   * Trusts the verified object of a claimed session and closes the session, in one call (the
   * function cas_trust_verified_upload: digest lock, deletion check, fenced update, blob row,
   * GC mark, audit record). 'deleting': a deleter holds the object now; 'lost': the claim lapsed.
   */
  async trustClaimed(
    claim: VerificationClaim,
    objectKey: string,
    audit: AuditAttribution & { readonly detail: Record<string, unknown> },
  ): Promise<'ready' | 'deleting' | 'lost'> {
    const s = claim.session;
    const [row] = rowsOf<{ outcome: 'ready' | 'deleting' | 'lost' }>(
      await this.dataSource.query(
        `SELECT cas_trust_verified_upload($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) AS outcome`,
        [
          s.id,
          claim.owner,
          claim.attempt,
          s.expectedDigest,
          s.expectedSizeBytes,
          objectKey,
          audit.principalId,
          audit.principalName,
          audit.requestId,
          JSON.stringify(audit.detail),
        ],
      ),
    );
    return row.outcome;
  }

  findById(
    id: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<UploadSessionEntity | null> {
    return manager.getRepository(UploadSessionEntity).findOneBy({ id });
  }

  /** The session, locked against concurrent changes until the caller's transaction ends. */
  lockById(manager: EntityManager, id: string): Promise<UploadSessionEntity | null> {
    return manager
      .getRepository(UploadSessionEntity)
      .findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async update(
    manager: EntityManager,
    id: string,
    fields: Partial<Omit<UploadSessionEntity, 'id' | 'createdAt' | 'updatedAt'>>,
  ): Promise<UploadSessionEntity> {
    await manager.update(UploadSessionEntity, { id }, fields);
    return manager.getRepository(UploadSessionEntity).findOneByOrFail({ id });
  }

  /** Records the staging area once; false when another request recorded one first. */
  async recordStaging(id: string, token: string | null): Promise<boolean> {
    const result = await this.dataSource.query(
      `UPDATE upload_session SET staging_created = true, staging_token = $2
        WHERE id = $1 AND NOT staging_created`,
      [id, token],
    );
    return countOf(result) === 1;
  }

  async markStagingCleared(id: string): Promise<void> {
    await this.dataSource.query(
      'UPDATE upload_session SET staging_cleared_at = now() WHERE id = $1 AND staging_cleared_at IS NULL',
      [id],
    );
  }

  /**
   * Claims the verification of a session nobody holds (no lease, or a lapsed one). SKIP LOCKED:
   * a session another transaction is claiming right now is simply not claimable.
   */
  async claimVerification(
    id: string,
    owner: string,
    leaseMs: number,
  ): Promise<VerificationClaim | null> {
    const rows = rowsOf<{ id: string; verify_attempt: number }>(
      await this.dataSource.query(
        `UPDATE upload_session
            SET state = 'verifying', verify_owner = $2, verify_attempt = verify_attempt + 1,
                verify_lease_until = now() + make_interval(secs => $3::double precision / 1000)
          WHERE id = (SELECT id FROM upload_session
                       WHERE id = $1 AND state IN ('completed', 'verifying')
                         AND (verify_lease_until IS NULL OR verify_lease_until <= now())
                       FOR UPDATE SKIP LOCKED)
        RETURNING id, verify_attempt`,
        [id, owner, leaseMs],
      ),
    );
    if (rows.length === 0) return null;
    const session = await this.findById(id);
    if (!session) return null;
    return { session, owner, attempt: rows[0].verify_attempt };
  }

  /** Extends a held lease; false when the claim was lost (fenced out). */
  async renewLease(claim: VerificationClaim, leaseMs: number): Promise<boolean> {
    const result = await this.dataSource.query(
      `UPDATE upload_session
          SET verify_lease_until = now() + make_interval(secs => $4::double precision / 1000)
        WHERE id = $1 AND verify_owner = $2 AND verify_attempt = $3 AND state = 'verifying'`,
      [claim.session.id, claim.owner, claim.attempt, leaseMs],
    );
    return countOf(result) === 1;
  }

  /** Gives a claim up so another verifier may take it after `delayMs`. */
  async releaseLease(claim: VerificationClaim, delayMs: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE upload_session
          SET verify_lease_until = now() + make_interval(secs => $4::double precision / 1000)
        WHERE id = $1 AND verify_owner = $2 AND verify_attempt = $3 AND state = 'verifying'`,
      [claim.session.id, claim.owner, claim.attempt, delayMs],
    );
  }

  /**
   * Writes the verifier's result only while it still holds its claim; false when fenced out.
   * Runs in the caller's transaction.
   */
  async updateFenced(
    manager: EntityManager,
    claim: VerificationClaim,
    fields: Partial<Omit<UploadSessionEntity, 'id' | 'createdAt' | 'updatedAt'>>,
  ): Promise<boolean> {
    const result = await manager
      .createQueryBuilder()
      .update(UploadSessionEntity)
      .set(fields)
      .where('id = :id AND verify_owner = :owner AND verify_attempt = :attempt', {
        id: claim.session.id,
        owner: claim.owner,
        attempt: claim.attempt,
      })
      .andWhere("state = 'verifying'")
      .execute();
    return result.affected === 1;
  }

  /** Moves open sessions past their expiry to `expired`; answers them. */
  async expireDue(limit: number): Promise<UploadSessionEntity[]> {
    const ids = rowsOf<{ id: string }>(
      await this.dataSource.query(
        `UPDATE upload_session SET state = 'expired'
          WHERE id IN (SELECT id FROM upload_session
                        WHERE state IN ('created', 'uploading') AND expires_at <= now()
                        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id`,
        [limit],
      ),
    ).map((r) => r.id);
    return ids.length
      ? this.dataSource.getRepository(UploadSessionEntity).findBy(ids.map((id) => ({ id })))
      : [];
  }

  /** Sessions whose verification nobody holds (never claimed, or the holder's lease lapsed). */
  async findUnclaimedVerifications(limit: number): Promise<string[]> {
    return rowsOf<{ id: string }>(
      await this.dataSource.query(
        `SELECT id FROM upload_session
          WHERE state IN ('completed', 'verifying')
            AND (verify_lease_until IS NULL OR verify_lease_until <= now())
          ORDER BY completed_at LIMIT $1`,
        [limit],
      ),
    ).map((r) => r.id);
  }

  /** Finished sessions whose staging was not removed yet (a crash, or a store that was down). */
  async findStagingLeft(limit: number): Promise<UploadSessionEntity[]> {
    return this.dataSource
      .getRepository(UploadSessionEntity)
      .createQueryBuilder('s')
      .where('s.staging_cleared_at IS NULL')
      .andWhere("s.state IN ('ready', 'failed', 'aborted', 'expired')")
      .orderBy('s.updated_at')
      .limit(limit)
      .getMany();
  }

  /** Did this principal begin an upload session for `digest` (any state)? */
  async uploadedBy(principalId: string, digest: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `SELECT 1 FROM upload_session WHERE created_by = $1 AND expected_digest = $2 LIMIT 1`,
      [principalId, digest],
    );
    return rows.length > 0;
  }

  async findByIds(ids: readonly string[]): Promise<UploadSessionEntity[]> {
    if (ids.length === 0) return [];
    return this.dataSource
      .getRepository(UploadSessionEntity)
      .createQueryBuilder('s')
      .where('s.id IN (:...ids)', { ids })
      .getMany();
  }

  async countByState(): Promise<Map<UploadState, number>> {
    const rows = rowsOf<{ state: UploadState; n: string }>(
      await this.dataSource.query('SELECT state, count(*) AS n FROM upload_session GROUP BY state'),
    );
    return new Map(rows.map((r) => [r.state, Number(r.n)]));
  }

  /**
   * Of `digests`, those an upload session still cites: one in progress, or one that changed
   * within `graceMs` (a ready session's client is about to cite the blob in a draft).
   */
  async citedDigests(
    manager: EntityManager,
    digests: readonly string[],
    graceMs: number,
  ): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = rowsOf<{ expected_digest: string }>(
      await manager.query(
        `SELECT DISTINCT expected_digest FROM upload_session
          WHERE expected_digest = ANY($1::text[])
            AND (state IN ('created', 'uploading', 'completed', 'verifying')
                 OR updated_at > now() - make_interval(secs => $2::double precision / 1000))`,
        [digests, graceMs],
      ),
    );
    return new Set(rows.map((r) => r.expected_digest));
  }
}
