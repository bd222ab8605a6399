import { Module } from '@nestjs/common';
import { ApiTokenRepository } from './api-token.repository';
import { AuthService } from './auth.service';
import { OidcProvisioningRuleRepository } from './oidc-provisioning-rule.repository';
import { PrincipalRepository } from './principal.repository';
import { RoleGrantRepository } from './role-grant.repository';

/**
 * AuthService without HTTP, for the server's maintenance commands (`token issue`): no guard, no
 * controller, and no bootstrap, which would print a token of its own on stdout.
 */
@Module({
  providers: [
    AuthService,
    PrincipalRepository,
    RoleGrantRepository,
    ApiTokenRepository,
    OidcProvisioningRuleRepository,
  ],
  exports: [AuthService],
})
export class AuthMaintenanceModule {}
