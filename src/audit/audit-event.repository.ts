import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';
import { AuditEventEntity } from './audit-event.entity';

export interface AuditEventFilter {
  readonly action?: string;
  readonly image?: string;
  readonly principalId?: string;
}

@Injectable()
export class AuditEventRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    row: Omit<AuditEventEntity, 'id' | 'occurredAt'>,
  ): Promise<void> {
    await manager.query(
      `INSERT INTO audit_event (principal_id, principal_name, action, target_type, target_id, image_name, request_id, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        row.principalId,
        row.principalName,
        row.action,
        row.targetType,
        row.targetId,
        row.imageName,
        row.requestId,
        JSON.stringify(row.detail),
      ],
    );
  }

  /** Newest first; rows after the cursor's id. Fetches limit + 1 rows to tell whether more follow. */
  async list(
    filter: AuditEventFilter,
    limit: number,
    cursor?: string,
  ): Promise<AuditEventEntity[]> {
    const after = decodeCursor(cursor, ['id']);
    const qb = this.dataSource.getRepository(AuditEventEntity).createQueryBuilder('e');
    if (filter.action) qb.andWhere('e.action = :action', { action: filter.action });
    if (filter.image) qb.andWhere('e.image_name = :image', { image: filter.image });
    if (filter.principalId)
      qb.andWhere('e.principal_id = :principalId', { principalId: filter.principalId });
    if (after) qb.andWhere('e.id < :after', { after: String(after[0]) });
    return qb
      .orderBy('e.id', 'DESC')
      .limit(limit + 1)
      .getMany();
  }
}
