import { ApiTokenEntity } from './api-token.entity';
import { OidcProvisioningRuleEntity } from './oidc-provisioning-rule.entity';
import { PrincipalEntity } from './principal.entity';
import { RoleGrantEntity } from './role-grant.entity';

/** The auth module's TypeORM entities (listed in database/entities.ts). */
export const AUTH_ENTITIES = [
  PrincipalEntity,
  RoleGrantEntity,
  ApiTokenEntity,
  OidcProvisioningRuleEntity,
];
