import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { CasBlobEntity } from './cas.entities';
import { countOf, rowsOf } from './sql-result';

export interface ObjectDeletion {
  readonly objectKey: string;
  readonly digest: string;
  readonly claimedBy: string | null;
  readonly claimedUntil: Date | null;
}

const interval = (param: string) => `make_interval(secs => ${param}::double precision / 1000)`;

/** Blob `b` is older than the grace ($1, ms) and no upload session cites it (open, or recent). */
const UNCITED_BY_SESSIONS_PAST_GRACE = `b.created_at <= now() - ${interval('$1')}
            AND NOT EXISTS (
              SELECT 1 FROM upload_session s
               WHERE s.expected_digest = b.digest
                 AND (s.state IN ('created', 'uploading', 'completed', 'verifying')
                      OR s.updated_at > now() - ${interval('$1')}))`;

/** Where a scan for mark candidates stopped. */
export interface MarkCursor {
  readonly createdAt: string;
  readonly digest: string;
}

export interface UncitedBlob {
  readonly digest: string;
  readonly sizeBytes: number;
  /** When it was trusted or an upload of it last changed, whichever is later. */
  readonly lastReferencedAt: Date;
  readonly markedAt: Date | null;
  /** Marked for at least the mark delay: the next GC run deletes its row. */
  readonly markDue: boolean;
}

/** Trusted blobs, the GC's marks, and object deletions waiting for their delay. */
@Injectable()
export class CasBlobRepository {
  constructor(private readonly dataSource: DataSource) {}

  findByDigest(
    digest: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<CasBlobEntity | null> {
    return manager.getRepository(CasBlobEntity).findOneBy({ digest });
  }

  async findByDigests(
    digests: readonly string[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<CasBlobEntity[]> {
    if (digests.length === 0) return [];
    return manager
      .getRepository(CasBlobEntity)
      .createQueryBuilder('b')
      .where('b.digest IN (:...digests)', { digests })
      .getMany();
  }

  /** Inserts the trusted row unless the digest is trusted already (another upload of it won). */
  async insertIfAbsent(
    manager: EntityManager,
    row: Pick<CasBlobEntity, 'digest' | 'sizeBytes' | 'objectKey' | 'verifiedUploadId'>,
  ): Promise<void> {
    await manager.query(
      `INSERT INTO cas_blob (digest, size_bytes, object_key, verified_upload_id)
       VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING`,
      [row.digest, row.sizeBytes, row.objectKey, row.verifiedUploadId],
    );
  }

  /**
   * Serializes everything that decides a digest's fate (citing it, deleting its row, deleting
   * its bytes, trusting it again) until the caller's transaction ends.
   */
  async lockDigest(manager: EntityManager, digest: string): Promise<void> {
    await manager.query("SELECT pg_advisory_xact_lock(hashtextextended('imgsrv.cas:' || $1, 0))", [
      digest,
    ]);
  }

  async unmark(manager: EntityManager, digest: string): Promise<boolean> {
    return (
      countOf(await manager.query('DELETE FROM cas_blob_gc_mark WHERE digest = $1', [digest])) > 0
    );
  }

  async stats(): Promise<{ count: number; bytes: number }> {
    const [row] = rowsOf<{ n: string; bytes: string | null }>(
      await this.dataSource.query('SELECT count(*) AS n, sum(size_bytes) AS bytes FROM cas_blob'),
    );
    return { count: Number(row.n), bytes: Number(row.bytes ?? 0) };
  }

  /**
   * Trusted blobs older than `graceMs`, not marked yet, that no upload session cites (in progress
   * or changed within the grace period). Other modules' references are checked by the caller.
   */
  /**
   * Blobs past the grace that no upload session cites and that carry no mark, in (created_at,
   * digest) order after `after` (a cursor from an earlier page: created_at as PostgreSQL's text,
   * so no precision is lost).
   */
  async findMarkCandidates(
    graceMs: number,
    limit: number,
    after: MarkCursor | null = null,
  ): Promise<{ digest: string; cursor: MarkCursor }[]> {
    return rowsOf<{ digest: string; created_at: string }>(
      await this.dataSource.query(
        `SELECT b.digest, b.created_at::text AS created_at FROM cas_blob b
          WHERE ${UNCITED_BY_SESSIONS_PAST_GRACE}
            AND NOT EXISTS (SELECT 1 FROM cas_blob_gc_mark m WHERE m.digest = b.digest)
            AND ($3::timestamptz IS NULL OR (b.created_at, b.digest) > ($3::timestamptz, $4::text))
          ORDER BY b.created_at, b.digest LIMIT $2`,
        [graceMs, limit, after?.createdAt ?? null, after?.digest ?? null],
      ),
    ).map((r) => ({ digest: r.digest, cursor: { createdAt: r.created_at, digest: r.digest } }));
  }

  /**
   * For a GC preview: every trusted blob older than `graceMs` that no upload session cites,
   * marked or not (the same condition as findMarkCandidates), with when it was last referenced
   * (trusted, or an upload of it touched) and its mark, `markDue` when it is older than
   * `markDelayMs`. Reads only.
   */
  async findUncitedPastGrace(graceMs: number, markDelayMs: number): Promise<UncitedBlob[]> {
    return rowsOf<{
      digest: string;
      size_bytes: string;
      last_referenced_at: Date;
      marked_at: Date | null;
      mark_due: boolean | null;
    }>(
      await this.dataSource.query(
        `SELECT b.digest, b.size_bytes, m.marked_at,
                m.marked_at <= now() - ${interval('$2')} AS mark_due,
                GREATEST(b.created_at, (SELECT max(s.updated_at) FROM upload_session s
                                         WHERE s.expected_digest = b.digest)) AS last_referenced_at
           FROM cas_blob b LEFT JOIN cas_blob_gc_mark m ON m.digest = b.digest
          WHERE ${UNCITED_BY_SESSIONS_PAST_GRACE}
          ORDER BY b.created_at, b.digest`,
        [graceMs, markDelayMs],
      ),
    ).map((r) => ({
      digest: r.digest,
      sizeBytes: Number(r.size_bytes),
      lastReferencedAt: r.last_referenced_at,
      markedAt: r.marked_at,
      markDue: r.mark_due === true,
    }));
  }

  /** Every pending deletion of bytes whose row is gone, with whether it is due now. */
  async findObjectDeletions(): Promise<(ObjectDeletion & { deleteAfter: Date; due: boolean })[]> {
    return rowsOf<{
      object_key: string;
      digest: string;
      delete_after: Date;
      claimed_by: string | null;
      claimed_until: Date | null;
      due: boolean;
    }>(
      await this.dataSource.query(
        `SELECT object_key, digest, delete_after, claimed_by, claimed_until,
                (delete_after <= now() AND (claimed_until IS NULL OR claimed_until <= now())) AS due
           FROM cas_object_deletion ORDER BY delete_after, object_key`,
      ),
    ).map((r) => ({
      objectKey: r.object_key,
      digest: r.digest,
      deleteAfter: r.delete_after,
      claimedBy: r.claimed_by,
      claimedUntil: r.claimed_until,
      due: r.due,
    }));
  }

  async insertMarks(manager: EntityManager, digests: readonly string[]): Promise<number> {
    if (digests.length === 0) return 0;
    return countOf(
      await manager.query(
        `INSERT INTO cas_blob_gc_mark (digest)
         SELECT d FROM unnest($1::text[]) AS d
          WHERE EXISTS (SELECT 1 FROM cas_blob b WHERE b.digest = d)
         ON CONFLICT (digest) DO NOTHING RETURNING digest`,
        [digests],
      ),
    );
  }

  async findMarksOlderThan(delayMs: number, limit: number): Promise<string[]> {
    return rowsOf<{ digest: string }>(
      await this.dataSource.query(
        `SELECT digest FROM cas_blob_gc_mark WHERE marked_at <= now() - ${interval('$1')}
          ORDER BY marked_at LIMIT $2`,
        [delayMs, limit],
      ),
    ).map((r) => r.digest);
  }

  async isMarkedSince(manager: EntityManager, digest: string, delayMs: number): Promise<boolean> {
    const rows = rowsOf(
      await manager.query(
        `SELECT 1 FROM cas_blob_gc_mark WHERE digest = $1 AND marked_at <= now() - ${interval('$2')}`,
        [digest, delayMs],
      ),
    );
    return rows.length > 0;
  }

  /**
   * The GC's delete: the one path the append-only trigger lets through (a transaction-local
   * setting, and only for a marked blob). Answers the deleted row.
   */
  async deleteMarkedAsGc(
    manager: EntityManager,
    digest: string,
  ): Promise<{ objectKey: string; sizeBytes: number } | null> {
    await manager.query("SELECT set_config('imgsrv.cas_gc', 'delete', true)");
    const rows = rowsOf<{ object_key: string; size_bytes: string }>(
      await manager.query(
        'DELETE FROM cas_blob WHERE digest = $1 RETURNING object_key, size_bytes',
        [digest],
      ),
    );
    await manager.query("SELECT set_config('imgsrv.cas_gc', '', true)");
    return rows[0]
      ? { objectKey: rows[0].object_key, sizeBytes: Number(rows[0].size_bytes) }
      : null;
  }

  async scheduleObjectDeletion(
    manager: EntityManager,
    objectKey: string,
    digest: string,
    delayMs: number,
  ): Promise<void> {
    await manager.query(
      `INSERT INTO cas_object_deletion (object_key, digest, delete_after)
       VALUES ($1, $2, now() + ${interval('$3')})
       ON CONFLICT (object_key) DO UPDATE SET delete_after = EXCLUDED.delete_after`,
      [objectKey, digest, delayMs],
    );
  }

  async findObjectDeletion(
    manager: EntityManager,
    objectKey: string,
  ): Promise<ObjectDeletion | null> {
    const [row] = rowsOf<{
      object_key: string;
      digest: string;
      claimed_by: string | null;
      claimed_until: Date | null;
      claim_live: boolean;
    }>(
      await manager.query(
        `SELECT object_key, digest, claimed_by, claimed_until
           FROM cas_object_deletion WHERE object_key = $1`,
        [objectKey],
      ),
    );
    return row
      ? {
          objectKey: row.object_key,
          digest: row.digest,
          claimedBy: row.claimed_by,
          claimedUntil: row.claimed_until,
        }
      : null;
  }

  /** Whether a deleter holds a live claim on the object (its bytes may be going right now). */
  async isDeletionInFlight(manager: EntityManager, objectKey: string): Promise<boolean> {
    const rows = rowsOf(
      await manager.query(
        `SELECT 1 FROM cas_object_deletion
          WHERE object_key = $1 AND claimed_until IS NOT NULL AND claimed_until > now()`,
        [objectKey],
      ),
    );
    return rows.length > 0;
  }

  async cancelObjectDeletion(manager: EntityManager, objectKey: string): Promise<void> {
    await manager.query('DELETE FROM cas_object_deletion WHERE object_key = $1', [objectKey]);
  }

  async findDueObjectDeletions(limit: number): Promise<ObjectDeletion[]> {
    return rowsOf<{ object_key: string; digest: string }>(
      await this.dataSource.query(
        `SELECT object_key, digest FROM cas_object_deletion
          WHERE delete_after <= now() AND (claimed_until IS NULL OR claimed_until <= now())
          ORDER BY delete_after LIMIT $1`,
        [limit],
      ),
    ).map((r) => ({
      objectKey: r.object_key,
      digest: r.digest,
      claimedBy: null,
      claimedUntil: null,
    }));
  }

  async claimObjectDeletion(
    manager: EntityManager,
    objectKey: string,
    owner: string,
    leaseMs: number,
  ): Promise<boolean> {
    return (
      countOf(
        await manager.query(
          `UPDATE cas_object_deletion
              SET claimed_by = $2, claimed_until = now() + ${interval('$3')}
            WHERE object_key = $1 AND delete_after <= now()
              AND (claimed_until IS NULL OR claimed_until <= now())`,
          [objectKey, owner, leaseMs],
        ),
      ) === 1
    );
  }

  async finishObjectDeletion(objectKey: string, owner: string): Promise<void> {
    await this.dataSource.query(
      'DELETE FROM cas_object_deletion WHERE object_key = $1 AND claimed_by = $2',
      [objectKey, owner],
    );
  }
}
