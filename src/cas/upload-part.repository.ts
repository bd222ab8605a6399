import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { UploadPartEntity } from './cas.entities';

export type NewUploadPart = Omit<UploadPartEntity, 'receivedAt'>;

/** The parts an upload received: the record a client resumes from, and the hash chain. */
@Injectable()
export class UploadPartRepository {
  constructor(private readonly dataSource: DataSource) {}

  findAll(
    uploadId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<UploadPartEntity[]> {
    return manager
      .getRepository(UploadPartEntity)
      .find({ where: { uploadId }, order: { partNumber: 'ASC' } });
  }

  /** The highest-numbered part below `partNumber`: the one a running hash would continue from. */
  findPredecessor(uploadId: string, partNumber: number): Promise<UploadPartEntity | null> {
    return this.dataSource
      .getRepository(UploadPartEntity)
      .createQueryBuilder('p')
      .where('p.upload_id = :uploadId AND p.part_number < :partNumber', { uploadId, partNumber })
      .orderBy('p.part_number', 'DESC')
      .limit(1)
      .getOne();
  }

  /** Inserts or replaces the part; answers the etag it replaced, if any. */
  async upsert(manager: EntityManager, part: NewUploadPart): Promise<string | null> {
    const repo = manager.getRepository(UploadPartEntity);
    const previous = await repo.findOne({
      where: { uploadId: part.uploadId, partNumber: part.partNumber },
      lock: { mode: 'pessimistic_write' },
    });
    if (previous) {
      await repo.update({ uploadId: part.uploadId, partNumber: part.partNumber }, part);
    } else {
      await repo.insert(part);
    }
    return previous?.etag ?? null;
  }

  /** Forgets one part number; answers the etag it held. */
  async delete(
    manager: EntityManager,
    uploadId: string,
    partNumber: number,
  ): Promise<string | null> {
    const repo = manager.getRepository(UploadPartEntity);
    const previous = await repo.findOneBy({ uploadId, partNumber });
    if (previous) await repo.delete({ uploadId, partNumber });
    return previous?.etag ?? null;
  }
}
