import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';
import { OidcProvisioningRuleEntity } from './oidc-provisioning-rule.entity';

export type OidcRuleFields = Pick<
  OidcProvisioningRuleEntity,
  'displayName' | 'issuerUrl' | 'audience' | 'claims' | 'roleId' | 'images' | 'enabled'
>;

@Injectable()
export class OidcProvisioningRuleRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    fields: OidcRuleFields,
  ): Promise<OidcProvisioningRuleEntity> {
    const result = await manager.insert(OidcProvisioningRuleEntity, fields);
    const id = (result.identifiers[0] as { id: string }).id;
    return manager.getRepository(OidcProvisioningRuleEntity).findOneByOrFail({ id });
  }

  async update(
    manager: EntityManager,
    id: string,
    fields: OidcRuleFields,
  ): Promise<OidcProvisioningRuleEntity | null> {
    const result = await manager.update(OidcProvisioningRuleEntity, { id }, fields);
    if (!result.affected) return null;
    return manager.getRepository(OidcProvisioningRuleEntity).findOneByOrFail({ id });
  }

  async delete(manager: EntityManager, id: string): Promise<boolean> {
    const result = await manager.delete(OidcProvisioningRuleEntity, { id });
    return (result.affected ?? 0) > 0;
  }

  findById(id: string): Promise<OidcProvisioningRuleEntity | null> {
    return this.dataSource.getRepository(OidcProvisioningRuleEntity).findOneBy({ id });
  }

  async list(limit: number, cursor?: string): Promise<OidcProvisioningRuleEntity[]> {
    const after = decodeCursor(cursor, ['timestamp', 'uuid']);
    const qb = this.dataSource.getRepository(OidcProvisioningRuleEntity).createQueryBuilder('r');
    if (after)
      qb.where("(date_trunc('milliseconds', r.created_at), r.id) > (:at::timestamptz, :id::uuid)", {
        at: after[0],
        id: after[1],
      });
    return qb
      .orderBy(`date_trunc('milliseconds', r.created_at)`, 'ASC')
      .addOrderBy('r.id', 'ASC')
      .limit(limit + 1)
      .getMany();
  }

  findEnabledByIssuer(issuerUrl: string): Promise<OidcProvisioningRuleEntity[]> {
    return this.dataSource
      .getRepository(OidcProvisioningRuleEntity)
      .find({ where: { issuerUrl, enabled: true }, order: { createdAt: 'ASC' } });
  }
}
