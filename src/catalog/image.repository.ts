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
   * Bytes the images' versions cite, each blob once per image, and of those the bytes no other
   * image cites (`bytesUnique`), over the versions a caller with `visibility` may see: every
   * version that is not purged (drafts and withdrawn ones included) of an image in its
   * content.read scope, and with public reads the published versions of any other image. On both
   * sides: an image outside the scope shows only what its published versions cite, and whether a
   * blob is shared counts only the versions of other images the caller may see, so it learns
   * nothing of versions it may not read. EVERY_VERSION: every version of every image.
   */
  async storageOf(
    imageIds: readonly string[],
    visibility: ImageVisibility,
  ): Promise<Map<string, ImageStorage>> {
    const result = new Map<string, ImageStorage>(
      imageIds.map((id) => [id, { bytes: 0, bytesUnique: 0 }]),
    );
    if (imageIds.length === 0) return result;
    // Per image, each (digest, size) it cites once, and per such digest how many images cite it:
    // hash joins over the images' own citations, so the cost follows what they cite (comparing
    // every citation of the catalog with every other grew with its square). Whether the caller
    // may see a version only filters the sums and counts, never the rows joined: as a WHERE, its
    // estimate (a state the statistics may not have caught up with, a pattern match) sent the
    // planner to nested loops that took seconds on an image of 1,000 versions.
    const rows: { image_id: string; bytes: string; bytes_unique: string }[] =
      await this.dataSource.query(
        `WITH mine AS (
           SELECT image_id, digest, size, bool_or(seen) AS seen
             FROM (SELECT v.image_id, a.primary_blob_digest AS digest,
                          a.primary_blob_size_bytes AS size, ${SEEN} AS seen
                     FROM image_version v JOIN image i ON i.id = v.image_id
                     JOIN artifact a ON a.version_id = v.id
                    WHERE v.image_id = ANY($1::uuid[]) AND v.purged_at IS NULL
                   UNION ALL
                   SELECT v.image_id, t.blob_digest, t.blob_size_bytes, ${SEEN}
                     FROM image_version v JOIN image i ON i.id = v.image_id
                     JOIN artifact a ON a.version_id = v.id
                     JOIN attachment t ON t.artifact_id = a.id
                    WHERE v.image_id = ANY($1::uuid[]) AND v.purged_at IS NULL) c
            GROUP BY image_id, digest, size),
         owners AS (
           SELECT x.digest, count(DISTINCT v.image_id) FILTER (WHERE ${SEEN}) AS n
             FROM (SELECT a.primary_blob_digest AS digest, a.version_id FROM artifact a
                    WHERE a.primary_blob_digest IN (SELECT digest FROM mine)
                   UNION ALL
                   SELECT t.blob_digest, a.version_id
                     FROM attachment t JOIN artifact a ON a.id = t.artifact_id
                    WHERE t.blob_digest IN (SELECT digest FROM mine)) x
             JOIN image_version v ON v.id = x.version_id AND v.purged_at IS NULL
             JOIN image i ON i.id = v.image_id
            GROUP BY x.digest)
         SELECT m.image_id, coalesce(sum(m.size) FILTER (WHERE m.seen), 0) AS bytes,
                coalesce(sum(m.size) FILTER (WHERE m.seen AND o.n = 1), 0) AS bytes_unique
           FROM mine m JOIN owners o USING (digest)
          GROUP BY m.image_id`,
        [imageIds, visibility.readablePatterns, visibility.publishedVisible],
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
    const byId = await this.storageOf(
      rows.map((r) => r.id),
      EVERY_VERSION,
    );
    return new Map(
      rows.map((r) => [r.name, byId.get(r.id) ?? { bytes: 0, bytesUnique: 0 }] as const),
    );
  }

  /**
   * Over the images in the content.read scope of `visibility`: the bytes they cite, each blob
   * once, and per image the bytes no other image cites, counting of other images only the
   * versions the caller may see (as storageOf).
   */
  async storageTotal(
    visibility: ImageVisibility,
  ): Promise<{ bytes: number; bytesUniqueByImage: Record<string, number> }> {
    const rows: { name: string | null; bytes: string }[] = await this.dataSource.query(
      `${CITES},
       readable AS (SELECT * FROM cites WHERE name ~ ANY($1::text[])),
       owners AS (
         SELECT digest, count(DISTINCT image_id) FILTER (WHERE seen) AS n FROM cites GROUP BY digest)
       SELECT NULL AS name, coalesce(sum(size), 0) AS bytes
         FROM (SELECT DISTINCT digest, size FROM readable) d
       UNION ALL
       SELECT r.name, coalesce(sum(r.size) FILTER (WHERE o.n = 1), 0)
         FROM readable r JOIN owners o USING (digest) GROUP BY r.name`,
      [visibility.readablePatterns, visibility.publishedVisible],
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

/** What a caller who may read every image sees: every version (operator figures, metrics). */
export const EVERY_VERSION: ImageVisibility = { readablePatterns: ['.*'], publishedVisible: true };

/**
 * Whether version `v` (not purged) of image `i` is one a caller may see, given the query's
 * parameters holding its content.read patterns and whether public reads are on ($2 and $3 in
 * storageOf, $1 and $2 in CITES): of an image in the scope, or published when public reads are on.
 */
const seen = (patterns: string, published: string) =>
  `((${published}::boolean AND v.state = 'published') OR i.name ~ ANY(${patterns}::text[]))`;
const SEEN = seen('$2', '$3');

/**
 * Every (image, blob) a version that is not purged cites, with the blob's size, the image's name
 * and whether the caller ($1, $2: see `seen`) may see a version of the image citing it.
 */
const CITES = `WITH cites AS (
  SELECT image_id, name, digest, size, bool_or(seen) AS seen
    FROM (SELECT v.image_id, i.name, a.primary_blob_digest AS digest,
                 a.primary_blob_size_bytes AS size, ${seen('$1', '$2')} AS seen
            FROM artifact a JOIN image_version v ON v.id = a.version_id AND v.purged_at IS NULL
            JOIN image i ON i.id = v.image_id
          UNION ALL
          SELECT v.image_id, i.name, t.blob_digest, t.blob_size_bytes, ${seen('$1', '$2')}
            FROM attachment t JOIN artifact a ON a.id = t.artifact_id
            JOIN image_version v ON v.id = a.version_id AND v.purged_at IS NULL
            JOIN image i ON i.id = v.image_id) c
   GROUP BY image_id, name, digest, size)`;
