import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

export interface RetentionPolicy {
  readonly imageId: string;
  readonly keepLatest: number | null;
  readonly keepDays: number | null;
  readonly keepAliased: boolean;
  readonly updatedAt: Date;
  readonly appliedAt: Date | null;
}

export interface RetentionCandidate {
  readonly versionId: string;
  readonly version: string;
  readonly aliased: boolean;
}

function map(r: Record<string, unknown>): RetentionPolicy {
  return {
    imageId: r.image_id as string,
    keepLatest: r.keep_latest === null ? null : Number(r.keep_latest),
    keepDays: r.keep_days === null ? null : Number(r.keep_days),
    keepAliased: Boolean(r.keep_aliased),
    updatedAt: r.updated_at as Date,
    appliedAt: (r.applied_at as Date | null) ?? null,
  };
}

const COLUMNS = 'image_id, keep_latest, keep_days, keep_aliased, updated_at, applied_at';

@Injectable()
export class RetentionRepository {
  constructor(private readonly dataSource: DataSource) {}

  async find(
    imageId: string,
    manager: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<RetentionPolicy | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT ${COLUMNS} FROM retention_policy WHERE image_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [imageId],
    );
    return rows[0] ? map(rows[0]) : null;
  }

  async put(
    manager: EntityManager,
    imageId: string,
    policy: { keepLatest: number | null; keepDays: number | null; keepAliased: boolean },
    updatedBy: string | null,
  ): Promise<RetentionPolicy> {
    const rows: Record<string, unknown>[] = await manager.query(
      `INSERT INTO retention_policy (image_id, keep_latest, keep_days, keep_aliased, updated_by)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (image_id) DO UPDATE SET keep_latest = EXCLUDED.keep_latest,
         keep_days = EXCLUDED.keep_days, keep_aliased = EXCLUDED.keep_aliased,
         updated_by = EXCLUDED.updated_by, updated_at = now()
       RETURNING ${COLUMNS}`,
      [imageId, policy.keepLatest, policy.keepDays, policy.keepAliased, updatedBy],
    );
    return map(rows[0]);
  }

  async delete(manager: EntityManager, imageId: string): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `DELETE FROM retention_policy WHERE image_id = $1 RETURNING image_id`,
      [imageId],
    );
    return (Array.isArray(rows[0]) ? (rows[0] as unknown[]) : rows).length > 0;
  }

  async markApplied(manager: EntityManager, imageId: string): Promise<void> {
    await manager.query(`UPDATE retention_policy SET applied_at = now() WHERE image_id = $1`, [
      imageId,
    ]);
  }

  /**
   * The images whose policy may let something go now, with their names: never applied, changed
   * since, a version published since, or (with keep_days) last applied over a minute ago.
   */
  async imagesDue(): Promise<{ imageId: string; imageName: string }[]> {
    const rows: { image_id: string; name: string }[] = await this.dataSource.query(
      `SELECT p.image_id, i.name FROM retention_policy p JOIN image i ON i.id = p.image_id
        WHERE p.applied_at IS NULL OR p.updated_at > p.applied_at
           OR (p.keep_days IS NOT NULL AND p.applied_at < now() - interval '1 minute')
           OR EXISTS (SELECT 1 FROM image_version v
                       WHERE v.image_id = p.image_id AND v.state = 'published'
                         AND v.published_at >= p.applied_at)
        ORDER BY i.name`,
    );
    return rows.map((r) => ({ imageId: r.image_id, imageName: r.name }));
  }

  /**
   * The published versions the policy lets go, oldest first: not the newest published one, not
   * among the newest `keep_latest`, not published within `keep_days`, and (with `keep_aliased`)
   * not the target of an alias. A version either keep names is kept.
   */
  async candidates(
    policy: RetentionPolicy,
    limit: number,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<RetentionCandidate[]> {
    const rows: { id: string; version: string; aliased: boolean }[] = await manager.query(
      `WITH ranked AS (
         SELECT v.id, v.version, v.published_at,
                row_number() OVER (ORDER BY v.published_at DESC, v.created_at DESC, v.id DESC) AS rank,
                EXISTS (SELECT 1 FROM alias a WHERE a.version_id = v.id) AS aliased
           FROM image_version v
          WHERE v.image_id = $1 AND v.state = 'published')
       SELECT id, version, aliased FROM ranked
        WHERE rank > 1
          AND ($2::int IS NULL OR rank > $2)
          AND ($3::int IS NULL OR published_at < now() - make_interval(days => $3::int))
          AND NOT ($4::boolean AND aliased)
        ORDER BY published_at, id
        LIMIT $5`,
      [policy.imageId, policy.keepLatest, policy.keepDays, policy.keepAliased, limit],
    );
    return rows.map((r) => ({ versionId: r.id, version: r.version, aliased: r.aliased }));
  }

  /** The newest published version of the image (where retention moves aliases it lets go). */
  async newestPublished(manager: EntityManager, imageId: string): Promise<string | null> {
    const rows: { version: string }[] = await manager.query(
      `SELECT version FROM image_version WHERE image_id = $1 AND state = 'published'
        ORDER BY published_at DESC, created_at DESC, id DESC LIMIT 1`,
      [imageId],
    );
    return rows[0]?.version ?? null;
  }
}
