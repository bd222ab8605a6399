import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';
import { ImageEntity } from './image.entity';

export interface ImageVisibility {
  /** Regular expressions (PostgreSQL syntax) of the image names the caller may read in full. */
  readonly readablePatterns: string[];
  /** Whether images with a published version are visible anyway (public reads). */
  readonly publishedVisible: boolean;
}

@Injectable()
export class ImageRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    row: Pick<ImageEntity, 'name' | 'displayName' | 'description' | 'createdBy'>,
  ): Promise<ImageEntity> {
    await manager.insert(ImageEntity, row);
    return manager.getRepository(ImageEntity).findOneByOrFail({ name: row.name });
  }

  findByName(
    name: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<ImageEntity | null> {
    return manager.getRepository(ImageEntity).findOneBy({ name });
  }

  async update(
    manager: EntityManager,
    id: string,
    fields: Partial<Pick<ImageEntity, 'displayName' | 'description'>>,
  ): Promise<ImageEntity> {
    if (Object.keys(fields).length > 0) await manager.update(ImageEntity, { id }, fields);
    return manager.getRepository(ImageEntity).findOneByOrFail({ id });
  }

  async hasPublishedVersion(
    imageId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM image_version WHERE image_id = $1 AND state = 'published' LIMIT 1`,
      [imageId],
    );
    return rows.length > 0;
  }

  /** Images in name order that the visibility allows; limit + 1 rows. */
  async list(visibility: ImageVisibility, limit: number, cursor?: string): Promise<ImageEntity[]> {
    const after = decodeCursor(cursor, ['text']);
    const qb = this.dataSource.getRepository(ImageEntity).createQueryBuilder('i');
    qb.where(
      `(i.name ~ ANY(:patterns::text[]) OR (:published::boolean AND EXISTS (
          SELECT 1 FROM image_version v WHERE v.image_id = i.id AND v.state = 'published')))`,
      { patterns: visibility.readablePatterns, published: visibility.publishedVisible },
    );
    if (after) qb.andWhere('i.name > :after', { after: String(after[0]) });
    return qb
      .orderBy('i.name', 'ASC')
      .limit(limit + 1)
      .getMany();
  }

  /**
   * Bytes the images' versions cite (drafts and withdrawn versions included, purged ones not),
   * each blob once per image; `bytesUnique`: of those, the bytes no other image cites. With
   * `publishedOnly`, only published versions count, on both sides: what a caller who sees nothing
   * but published versions may learn (no draft's or withdrawn version's bytes, nor whether one
   * of another image shares them).
   */
  async storageOf(
    imageIds: readonly string[],
    publishedOnly = false,
  ): Promise<Map<string, ImageStorage>> {
    const result = new Map<string, ImageStorage>(
      imageIds.map((id) => [id, { bytes: 0, bytesUnique: 0 }]),
    );
    if (imageIds.length === 0) return result;
    // Per image, each (digest, size) it cites once, and per such digest how many images cite it:
    // hash joins over the images' own citations, so the cost follows what they cite (comparing
    // every citation of the catalog with every other grew with its square).
    const rows: { image_id: string; bytes: string; bytes_unique: string }[] =
      await this.dataSource.query(
        `WITH mine AS (
           SELECT v.image_id, a.primary_blob_digest AS digest, a.primary_blob_size_bytes AS size
             FROM image_version v JOIN artifact a ON a.version_id = v.id
            WHERE v.image_id = ANY($1::uuid[]) AND v.purged_at IS NULL
              AND (NOT $2 OR v.state = 'published')
           UNION
           SELECT v.image_id, t.blob_digest, t.blob_size_bytes
             FROM image_version v JOIN artifact a ON a.version_id = v.id
             JOIN attachment t ON t.artifact_id = a.id
            WHERE v.image_id = ANY($1::uuid[]) AND v.purged_at IS NULL
              AND (NOT $2 OR v.state = 'published')),
         owners AS (
           SELECT x.digest, count(DISTINCT v.image_id) AS n
             FROM (SELECT a.primary_blob_digest AS digest, a.version_id FROM artifact a
                    WHERE a.primary_blob_digest IN (SELECT digest FROM mine)
                   UNION ALL
                   SELECT t.blob_digest, a.version_id
                     FROM attachment t JOIN artifact a ON a.id = t.artifact_id
                    WHERE t.blob_digest IN (SELECT digest FROM mine)) x
             JOIN image_version v ON v.id = x.version_id AND v.purged_at IS NULL
                                     AND (NOT $2 OR v.state = 'published')
            GROUP BY x.digest)
         SELECT m.image_id, sum(m.size) AS bytes,
                coalesce(sum(m.size) FILTER (WHERE o.n = 1), 0) AS bytes_unique
           FROM mine m JOIN owners o USING (digest)
          GROUP BY m.image_id`,
        [imageIds, publishedOnly],
      );
    for (const r of rows)
      result.set(r.image_id, { bytes: Number(r.bytes), bytesUnique: Number(r.bytes_unique) });
    return result;
  }

  /** Every image's storage (as storageOf), by name. */
  async storageByName(): Promise<Map<string, ImageStorage>> {
    const rows: { id: string; name: string }[] = await this.dataSource.query(
      `SELECT id, name FROM image ORDER BY name`,
    );
    const byId = await this.storageOf(rows.map((r) => r.id));
    return new Map(
      rows.map((r) => [r.name, byId.get(r.id) ?? { bytes: 0, bytesUnique: 0 }] as const),
    );
  }

  /**
   * Over the images whose names match `patterns`: the bytes they cite, each blob once, and per
   * image the bytes no other image cites.
   */
  async storageTotal(
    patterns: readonly string[],
  ): Promise<{ bytes: number; bytesUniqueByImage: Record<string, number> }> {
    const rows: { name: string | null; bytes: string }[] = await this.dataSource.query(
      `${CITES},
       readable AS (
         SELECT c.*, i.name FROM cites c JOIN image i ON i.id = c.image_id
          WHERE i.name ~ ANY($1::text[])),
       owners AS (SELECT digest, count(DISTINCT image_id) AS n FROM cites GROUP BY digest)
       SELECT NULL AS name, coalesce(sum(size), 0) AS bytes
         FROM (SELECT DISTINCT digest, size FROM readable) d
       UNION ALL
       SELECT r.name, coalesce(sum(r.size) FILTER (WHERE o.n = 1), 0)
         FROM readable r JOIN owners o USING (digest) GROUP BY r.name`,
      [patterns],
    );
    const byImage: Record<string, number> = {};
    let bytes = 0;
    for (const r of rows) {
      if (r.name === null) bytes = Number(r.bytes);
      else byImage[r.name] = Number(r.bytes);
    }
    return { bytes, bytesUniqueByImage: byImage };
  }
}

export interface ImageStorage {
  readonly bytes: number;
  readonly bytesUnique: number;
}

/** Every (image, blob) a version that is not purged cites, with the blob's size. */
const CITES = `WITH cites AS (
  SELECT v.image_id, a.primary_blob_digest AS digest, a.primary_blob_size_bytes AS size
    FROM artifact a JOIN image_version v ON v.id = a.version_id AND v.purged_at IS NULL
  UNION
  SELECT v.image_id, t.blob_digest, t.blob_size_bytes
    FROM attachment t JOIN artifact a ON a.id = t.artifact_id
    JOIN image_version v ON v.id = a.version_id AND v.purged_at IS NULL)`;
