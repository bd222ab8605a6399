import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import type { RoleId } from './actions';
import { RoleGrantEntity } from './role-grant.entity';

/** Serializes changes that could leave nobody holding auth-manager (and the bootstrap). */
const AUTH_MANAGER_LOCK = 7_242_002;

@Injectable()
export class RoleGrantRepository {
  constructor(private readonly dataSource: DataSource) {}

  listFor(
    principalIds: string[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<RoleGrantEntity[]> {
    if (principalIds.length === 0) return Promise.resolve([]);
    return manager
      .getRepository(RoleGrantEntity)
      .find({ where: { principalId: In(principalIds) }, order: { roleId: 'ASC' } });
  }

  async upsert(
    manager: EntityManager,
    principalId: string,
    roleId: RoleId,
    images: string[],
  ): Promise<void> {
    await manager.query(
      `INSERT INTO role_grant (principal_id, role_id, images) VALUES ($1, $2, $3)
       ON CONFLICT ON CONSTRAINT pk_role_grant DO UPDATE SET images = EXCLUDED.images`,
      [principalId, roleId, images],
    );
  }

  /** The grant's patterns, its row locked until the transaction ends; null without the role. */
  async lockScope(
    manager: EntityManager,
    principalId: string,
    roleId: RoleId,
  ): Promise<string[] | null> {
    const rows: { images: string[] }[] = await manager.query(
      'SELECT images FROM role_grant WHERE principal_id = $1 AND role_id = $2 FOR UPDATE',
      [principalId, roleId],
    );
    return rows[0]?.images ?? null;
  }

  async delete(manager: EntityManager, principalId: string, roleId: RoleId): Promise<boolean> {
    const result = await manager.delete(RoleGrantEntity, { principalId, roleId });
    return (result.affected ?? 0) > 0;
  }

  async lockAuthManagers(manager: EntityManager): Promise<void> {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [AUTH_MANAGER_LOCK]);
  }

  countHolders(manager: EntityManager, roleId: RoleId): Promise<number> {
    return manager.getRepository(RoleGrantEntity).countBy({ roleId });
  }
}
