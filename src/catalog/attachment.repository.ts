import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import { AttachmentEntity } from './artifact.entity';

@Injectable()
export class AttachmentRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    row: Omit<AttachmentEntity, 'id' | 'createdAt'>,
  ): Promise<AttachmentEntity> {
    const result = await manager.insert(AttachmentEntity, row);
    return manager
      .getRepository(AttachmentEntity)
      .findOneByOrFail({ id: (result.identifiers[0] as { id: string }).id });
  }

  findOnArtifact(
    artifactId: string,
    id: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<AttachmentEntity | null> {
    return manager.getRepository(AttachmentEntity).findOneBy({ id, artifactId });
  }

  listForArtifacts(
    artifactIds: string[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<AttachmentEntity[]> {
    if (artifactIds.length === 0) return Promise.resolve([]);
    return manager
      .getRepository(AttachmentEntity)
      .find({ where: { artifactId: In(artifactIds) }, order: { name: 'ASC' } });
  }

  async delete(manager: EntityManager, id: string): Promise<void> {
    await manager.delete(AttachmentEntity, { id });
  }
}
