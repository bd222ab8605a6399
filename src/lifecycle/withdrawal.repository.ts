import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ImageVersionEntity } from '../catalog/image-version.entity';

/** The rows a withdrawal and a purge read and change beyond what the catalog's ports offer. */
@Injectable()
export class WithdrawalRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The version row, locked until the caller's transaction ends; null when there is none. */
  lock(manager: EntityManager, versionId: string): Promise<ImageVersionEntity | null> {
    return manager
      .getRepository(ImageVersionEntity)
      .createQueryBuilder('v')
      .setLock('pessimistic_write')
      .where('v.id = :versionId', { versionId })
      .getOne();
  }

  /**
   * Purges the withdrawn versions whose grace has passed, at most `limit` of them, skipping rows
   * another worker holds: one UPDATE, so a crash leaves each version purged or not. Returns the
   * versions purged, with their image.
   */
  async purgeDue(limit: number): Promise<{ imageName: string; version: string }[]> {
    const rows: { image_name: string; version: string }[][] = await this.dataSource.query(
      `WITH due AS (
         SELECT id FROM image_version
          WHERE state = 'withdrawn' AND purged_at IS NULL AND purge_after <= now()
          ORDER BY purge_after LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE image_version v SET purged_at = now()
         FROM due, image i
        WHERE v.id = due.id AND i.id = v.image_id
       RETURNING i.name AS image_name, v.version`,
      [limit],
    );
    // node-postgres answers an UPDATE … RETURNING through TypeORM as [rows, count].
    const list = Array.isArray(rows[0]) ? rows[0] : (rows as unknown as (typeof rows)[0]);
    return list.map((r) => ({ imageName: r.image_name, version: r.version }));
  }
}
