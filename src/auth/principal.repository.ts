import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';
import { PrincipalEntity } from './principal.entity';

export interface PrincipalInsert {
  readonly kind: 'user' | 'service';
  readonly displayName: string;
  readonly attributes: Record<string, unknown>;
}

@Injectable()
export class PrincipalRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, row: PrincipalInsert): Promise<PrincipalEntity> {
    const rows: { id: string }[] = await manager.query(
      'INSERT INTO principal (kind, display_name, attributes) VALUES ($1, $2, $3) RETURNING id',
      [row.kind, row.displayName, JSON.stringify(row.attributes)],
    );
    return manager.getRepository(PrincipalEntity).findOneByOrFail({ id: rows[0].id });
  }

  findById(
    id: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<PrincipalEntity | null> {
    return manager.getRepository(PrincipalEntity).findOneBy({ id });
  }

  /** Principals called `displayName` (names are not unique), oldest first. */
  findByDisplayName(displayName: string): Promise<PrincipalEntity[]> {
    return this.dataSource
      .getRepository(PrincipalEntity)
      .find({ where: { displayName }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  async list(limit: number, cursor?: string, displayName?: string): Promise<PrincipalEntity[]> {
    const after = decodeCursor(cursor, ['timestamp', 'uuid']);
    const qb = this.dataSource.getRepository(PrincipalEntity).createQueryBuilder('p');
    qb.where('true');
    if (displayName !== undefined) qb.andWhere('p.display_name = :displayName', { displayName });
    if (after)
      qb.andWhere(
        "(date_trunc('milliseconds', p.created_at), p.id) > (:at::timestamptz, :id::uuid)",
        {
          at: after[0],
          id: after[1],
        },
      );
    return qb
      .orderBy(`date_trunc('milliseconds', p.created_at)`, 'ASC')
      .addOrderBy('p.id', 'ASC')
      .limit(limit + 1)
      .getMany();
  }

  /**
   * The principal of an OIDC subject, created on first use (race-safe). `created` tells whether
   * this call provisioned it.
   */
  async upsertOidc(
    manager: EntityManager,
    issuer: string,
    subject: string,
    displayName: string,
  ): Promise<{ id: string; displayName: string; created: boolean }> {
    const rows: { id: string; display_name: string; created: boolean }[] = await manager.query(
      `INSERT INTO principal (kind, display_name, oidc_issuer, oidc_subject)
       VALUES ('service', $3, $1, $2)
       ON CONFLICT ON CONSTRAINT uq_principal_oidc DO UPDATE SET display_name = principal.display_name
       RETURNING id, display_name, (xmax = 0) AS created`,
      [issuer, subject, displayName],
    );
    return { id: rows[0].id, displayName: rows[0].display_name, created: rows[0].created };
  }
}
