import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { StreamsItemEntity, type StreamsItemInput } from './streams-item.entity';
import { METADATA_FILENAME, type ProjectionInput } from './streams.projector';

/** A published streams item that cites some bytes (see `itemCitations`). */
export interface ItemCitation {
  readonly imageName: string;
  readonly publishedAt: Date;
  readonly filename: string;
  readonly sizeBytes: number;
  readonly mediaType: string;
  /**
   * Whether the version still serves its downloads: published, or withdrawn without `immediate`
   * and within its grace. A withdrawn version past it answers 410.
   */
  readonly served: boolean;
}

/** The projection's rows (see StreamsRepository.projectionRows). */
const PROJECTION_ROWS = `SELECT i.name AS "imageName", v.version AS "version", v.published_at AS "publishedAt",
       s.product_key AS "productKey", s.image_type AS "imageType", s.architecture,
       s.variant, s.operating_system AS "operatingSystem", s.release,
       s.release_title AS "releaseTitle", s.serial, s.combined_sha256 AS "combinedSha256",
       s.metadata_sha256 AS "metadataSha256",
       s.metadata_size_bytes::float8 AS "metadataSizeBytes", s.root_ftype AS "rootFtype",
       s.root_path AS "rootPath", s.root_sha256 AS "rootSha256",
       s.root_size_bytes::float8 AS "rootSizeBytes",
       COALESCE(a.aliases, '{}') AS aliases
  FROM streams_item s
  JOIN image_version v ON v.id = s.version_id AND v.state = 'published'
  JOIN image i ON i.id = v.image_id
  LEFT JOIN (SELECT version_id, array_agg(alias) AS aliases
               FROM alias GROUP BY version_id) a ON a.version_id = v.id`;

/** Rows a render reads at a time through its cursor (about 1 KiB each in memory). */
const PROJECTION_BATCH = 1_000;

@Injectable()
export class StreamsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async replaceVersionItems(
    manager: EntityManager,
    versionId: string,
    items: StreamsItemInput[],
  ): Promise<void> {
    await manager.delete(StreamsItemEntity, { versionId });
    if (items.length > 0)
      await manager.insert(
        StreamsItemEntity,
        items.map((i) => ({ ...i, versionId })),
      );
  }

  async fingerprints(manager: EntityManager, versionId: string): Promise<Map<string, string>> {
    const rows = await manager.find(StreamsItemEntity, {
      where: { versionId },
      select: { artifactId: true, combinedSha256: true },
    });
    return new Map(rows.map((r) => [r.artifactId, r.combinedSha256]));
  }

  async bumpRevision(manager: EntityManager): Promise<number> {
    const rows: { revision: string }[] = await manager.query(
      `UPDATE streams_revision SET revision = revision + 1, updated_at = now() WHERE id = 1 RETURNING revision`,
    );
    const first = (rows as unknown as [{ revision: string }[], number])[0];
    return Number(Array.isArray(first) ? first[0].revision : rows[0].revision);
  }

  async revision(): Promise<{ revision: number; updatedAt: Date }> {
    const rows: { revision: string; updated_at: Date }[] = await this.dataSource.query(
      `SELECT revision, updated_at FROM streams_revision WHERE id = 1`,
    );
    return { revision: Number(rows[0].revision), updatedAt: rows[0].updated_at };
  }

  /**
   * Every projected row of a published version with its aliases, as the projector takes it: only
   * the columns it reads, one plain object per row, in no particular order (the projector sorts
   * them into its own, which the database's collation need not share).
   */
  projectionRows(manager: EntityManager): Promise<ProjectionInput[]> {
    return manager.query(PROJECTION_ROWS);
  }

  /**
   * The rows of `projectionRows` handed to `each` a batch at a time through a cursor in the
   * caller's transaction, sorted as `projectionOrder` sorts them where the keys' characters sort
   * alike in both (ASCII, as image names, versions, architectures and variants are): a render then
   * holds one batch of rows, not all of them. Stops early, closing the cursor, when `each` answers
   * false; answers whether every row was handed over.
   */
  async eachProjectionRow(
    manager: EntityManager,
    each: (row: ProjectionInput) => boolean,
    batch = PROJECTION_BATCH,
  ): Promise<boolean> {
    // Milliseconds, as the rows' dates hold the time (the driver drops the microseconds).
    await manager.query(
      `DECLARE streams_projection NO SCROLL CURSOR FOR ${PROJECTION_ROWS}
        ORDER BY date_trunc('milliseconds', v.published_at), s.product_key COLLATE "C",
                 s.image_type COLLATE "C", s.combined_sha256 COLLATE "C"`,
    );
    let complete = true;
    for (;;) {
      const rows: ProjectionInput[] = await manager.query(
        `FETCH FORWARD ${batch} FROM streams_projection`,
      );
      if (!rows.every(each)) {
        complete = false;
        break;
      }
      if (rows.length < batch) break;
    }
    // An error above aborts the transaction, which closes the cursor with it.
    await manager.query('CLOSE streams_projection');
    return complete;
  }

  async revisionIn(manager: EntityManager): Promise<number> {
    const rows: { revision: string }[] = await manager.query(
      `SELECT revision FROM streams_revision WHERE id = 1`,
    );
    return Number(rows[0].revision);
  }

  /**
   * Every published streams item citing these bytes, as metadata or as root: the image, when it
   * was published, the file name and media type under which the documents list them.
   */
  async itemCitations(sha256: string): Promise<ItemCitation[]> {
    const rows: {
      image_name: string;
      published_at: Date;
      is_metadata: boolean;
      root_path: string;
      size_bytes: string;
      media_type: string;
      served: boolean;
    }[] = await this.dataSource.query(
      `SELECT i.name AS image_name, v.published_at, s.metadata_sha256 = $1 AS is_metadata,
              s.root_path,
              CASE WHEN s.metadata_sha256 = $1 THEN s.metadata_size_bytes ELSE s.root_size_bytes END
                AS size_bytes,
              CASE WHEN s.metadata_sha256 = $1 THEN m.media_type ELSE a.primary_media_type END
                AS media_type,
              v.state = 'published' OR (NOT v.withdrawn_immediate AND v.purged_at IS NULL
                                        AND v.purge_after > now()) AS served
         FROM streams_item s
         JOIN image_version v ON v.id = s.version_id AND v.state IN ('published', 'withdrawn')
         JOIN image i ON i.id = v.image_id
         JOIN artifact a ON a.id = s.artifact_id
         JOIN attachment m ON m.artifact_id = s.artifact_id AND m.name = 'incus.tar.xz'
        WHERE s.metadata_sha256 = $1 OR s.root_sha256 = $1
        ORDER BY v.published_at, i.name`,
      [sha256],
    );
    return rows.map((r) => ({
      imageName: r.image_name,
      publishedAt: new Date(r.published_at),
      filename: r.is_metadata
        ? METADATA_FILENAME
        : r.root_path.slice(r.root_path.lastIndexOf('/') + 1),
      sizeBytes: Number(r.size_bytes),
      mediaType: r.media_type,
      served: r.served,
    }));
  }

  itemsOfVersion(versionId: string): Promise<StreamsItemEntity[]> {
    return this.dataSource
      .getRepository(StreamsItemEntity)
      .find({ where: { versionId }, order: { productKey: 'ASC' } });
  }
}
