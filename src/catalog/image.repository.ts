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

  async hasPublishedVersion(imageId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
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
}
