import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import { ArtifactEntity } from './artifact.entity';

@Injectable()
export class ArtifactRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    row: Omit<ArtifactEntity, 'id' | 'createdAt'>,
  ): Promise<ArtifactEntity> {
    const result = await manager.insert(ArtifactEntity, row);
    return manager
      .getRepository(ArtifactEntity)
      .findOneByOrFail({ id: (result.identifiers[0] as { id: string }).id });
  }

  findInVersion(
    versionId: string,
    id: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<ArtifactEntity | null> {
    return manager.getRepository(ArtifactEntity).findOneBy({ id, versionId });
  }

  listForVersions(
    versionIds: string[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<ArtifactEntity[]> {
    if (versionIds.length === 0) return Promise.resolve([]);
    return manager.getRepository(ArtifactEntity).find({
      where: { versionId: In(versionIds) },
      order: { variant: 'ASC', operatingSystem: 'ASC', architecture: 'ASC', format: 'ASC' },
    });
  }

  /** Of `digests`, those an artifact or attachment of a version not purged cites (drafts included). */
  async citedAmong(manager: EntityManager, digests: readonly string[]): Promise<string[]> {
    if (digests.length === 0) return [];
    const rows: { digest: string }[] = await manager.query(
      `SELECT a.primary_blob_digest AS digest
         FROM artifact a JOIN image_version v ON v.id = a.version_id AND v.purged_at IS NULL
        WHERE a.primary_blob_digest = ANY($1::text[])
       UNION
       SELECT t.blob_digest
         FROM attachment t JOIN artifact a ON a.id = t.artifact_id
         JOIN image_version v ON v.id = a.version_id AND v.purged_at IS NULL
        WHERE t.blob_digest = ANY($1::text[])`,
      [digests],
    );
    return rows.map((r) => r.digest);
  }

  async publishedCites(digest: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `SELECT 1 FROM artifact a JOIN image_version v ON v.id = a.version_id
        WHERE v.state = 'published' AND a.primary_blob_digest = $1
       UNION ALL
       SELECT 1 FROM attachment t JOIN artifact a ON a.id = t.artifact_id JOIN image_version v ON v.id = a.version_id
        WHERE v.state = 'published' AND t.blob_digest = $1
       LIMIT 1`,
      [digest],
    );
    return rows.length > 0;
  }

  /** The image and version state of every version citing `digest` (as a root or attachment). */
  async citationsOf(digest: string): Promise<{ imageName: string; state: string }[]> {
    const rows: { image_name: string; state: string }[] = await this.dataSource.query(
      `SELECT DISTINCT i.name AS image_name, v.state
         FROM image_version v JOIN image i ON i.id = v.image_id
        WHERE v.id IN (SELECT a.version_id FROM artifact a WHERE a.primary_blob_digest = $1
                       UNION
                       SELECT a.version_id FROM attachment t JOIN artifact a ON a.id = t.artifact_id
                        WHERE t.blob_digest = $1)`,
      [digest],
    );
    return rows.map((r) => ({ imageName: r.image_name, state: r.state }));
  }

  async delete(manager: EntityManager, id: string): Promise<void> {
    await manager.delete(ArtifactEntity, { id });
  }
}
