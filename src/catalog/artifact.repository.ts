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

  async delete(manager: EntityManager, id: string): Promise<void> {
    await manager.delete(ArtifactEntity, { id });
  }
}
