import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';
import { ImageVersionEntity, type VersionState } from './image-version.entity';
import { VERSION_TRANSITIONS, type VersionTransition } from './version-state';

@Injectable()
export class ImageVersionRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    row: Pick<ImageVersionEntity, 'imageId' | 'version' | 'createdBy'>,
  ): Promise<ImageVersionEntity> {
    await manager.insert(ImageVersionEntity, { ...row, state: 'draft' });
    return manager
      .getRepository(ImageVersionEntity)
      .findOneByOrFail({ imageId: row.imageId, version: row.version });
  }

  find(
    imageId: string,
    version: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<ImageVersionEntity | null> {
    return manager.getRepository(ImageVersionEntity).findOneBy({ imageId, version });
  }

  /** The version row, locked against concurrent state changes until the transaction ends. */
  findForUpdate(
    manager: EntityManager,
    imageId: string,
    version: string,
  ): Promise<ImageVersionEntity | null> {
    return manager
      .getRepository(ImageVersionEntity)
      .createQueryBuilder('v')
      .setLock('pessimistic_write')
      .where('v.image_id = :imageId AND v.version = :version', { imageId, version })
      .getOne();
  }

  /** Drafts may only be read with the draft lock shared, so a publish cannot slip in between. */
  findForShare(
    manager: EntityManager,
    imageId: string,
    version: string,
  ): Promise<ImageVersionEntity | null> {
    return manager
      .getRepository(ImageVersionEntity)
      .createQueryBuilder('v')
      .setLock('pessimistic_read')
      .where('v.image_id = :imageId AND v.version = :version', { imageId, version })
      .getOne();
  }

  /**
   * Moves a version along its lifecycle: only from the transition's `from` state, with the
   * columns that go with the new state. Returns whether the row moved (false: it was not in
   * `from`, or does not exist).
   */
  async transition(
    manager: EntityManager,
    id: string,
    transition: VersionTransition,
    fields: Partial<
      Pick<
        ImageVersionEntity,
        | 'publishedAt'
        | 'publishedBy'
        | 'withdrawnAt'
        | 'withdrawnBy'
        | 'withdrawnReason'
        | 'withdrawnImmediate'
        | 'purgeAfter'
      >
    > = {},
  ): Promise<boolean> {
    const { from, to } = VERSION_TRANSITIONS[transition];
    const result = await manager
      .createQueryBuilder()
      .update(ImageVersionEntity)
      .set({ ...fields, state: to })
      .where('id = :id AND state = :from', { id, from })
      .execute();
    return (result.affected ?? 0) === 1;
  }

  async delete(manager: EntityManager, id: string): Promise<void> {
    await manager.delete(ImageVersionEntity, { id });
  }

  /** Newest first (created_at, then id); limit + 1 rows. */
  async list(
    imageId: string,
    states: VersionState[],
    limit: number,
    cursor?: string,
  ): Promise<ImageVersionEntity[]> {
    const after = decodeCursor(cursor, ['timestamp', 'uuid']);
    const qb = this.dataSource
      .getRepository(ImageVersionEntity)
      .createQueryBuilder('v')
      .where('v.image_id = :imageId', { imageId })
      .andWhere({ state: In(states) });
    if (after) {
      qb.andWhere(
        `(date_trunc('milliseconds', v.created_at), v.id) < (:at::timestamptz, :id::uuid)`,
        {
          at: after[0],
          id: after[1],
        },
      );
    }
    return qb
      .orderBy(`date_trunc('milliseconds', v.created_at)`, 'DESC')
      .addOrderBy('v.id', 'DESC')
      .limit(limit + 1)
      .getMany();
  }
}
