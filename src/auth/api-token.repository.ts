import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';
import type { RoleId } from './actions';
import { ApiTokenEntity } from './api-token.entity';

/** What authenticating one request needs, read in one query. */
export interface TokenForAuth {
  readonly id: string;
  readonly secretSha256: Buffer;
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
  readonly principal: {
    readonly id: string;
    readonly kind: 'user' | 'service';
    readonly displayName: string;
  };
  readonly grants: { readonly roleId: RoleId; readonly images: string[] }[];
}

@Injectable()
export class ApiTokenRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    row: Pick<
      ApiTokenEntity,
      'id' | 'principalId' | 'name' | 'secretSha256' | 'expiresAt' | 'createdBy'
    >,
  ): Promise<ApiTokenEntity> {
    await manager.insert(ApiTokenEntity, row);
    return manager.getRepository(ApiTokenEntity).findOneByOrFail({ id: row.id });
  }

  findById(
    id: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<ApiTokenEntity | null> {
    return manager.getRepository(ApiTokenEntity).findOneBy({ id });
  }

  async findForAuth(id: string): Promise<TokenForAuth | null> {
    const rows: {
      id: string;
      secret_sha256: Buffer;
      expires_at: Date;
      revoked_at: Date | null;
      principal_id: string;
      kind: 'user' | 'service';
      display_name: string;
      grants: { role_id: RoleId; images: string[] }[];
    }[] = await this.dataSource.query(
      `SELECT t.id, t.secret_sha256, t.expires_at, t.revoked_at,
              p.id AS principal_id, p.kind, p.display_name,
              COALESCE((SELECT json_agg(json_build_object('role_id', g.role_id, 'images', g.images))
                          FROM role_grant g WHERE g.principal_id = p.id), '[]'::json) AS grants
         FROM api_token t JOIN principal p ON p.id = t.principal_id
        WHERE t.id = $1`,
      [id],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id,
      secretSha256: r.secret_sha256,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      principal: { id: r.principal_id, kind: r.kind, displayName: r.display_name },
      grants: r.grants.map((g) => ({ roleId: g.role_id, images: g.images })),
    };
  }

  async listFor(principalId: string, limit: number, cursor?: string): Promise<ApiTokenEntity[]> {
    const after = decodeCursor(cursor, ['timestamp', 'uuid']);
    const qb = this.dataSource
      .getRepository(ApiTokenEntity)
      .createQueryBuilder('t')
      .where('t.principal_id = :principalId', { principalId });
    if (after)
      qb.andWhere("(date_trunc('milliseconds', t.created_at), t.id) > (:at::timestamptz, :id)", {
        at: after[0],
        id: after[1],
      });
    return qb
      .orderBy(`date_trunc('milliseconds', t.created_at)`, 'ASC')
      .addOrderBy('t.id', 'ASC')
      .limit(limit + 1)
      .getMany();
  }

  /** Marks the token revoked; false when it already was. */
  async revoke(manager: EntityManager, id: string): Promise<boolean> {
    const result = await manager.query(
      'UPDATE api_token SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id',
      [id],
    );
    return (result[0] as unknown[]).length > 0;
  }

  /** Records use, at most once a minute per token whatever the request rate. */
  async touch(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE api_token SET last_used_at = now()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id],
    );
  }
}
