import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiTokenRepository } from './api-token.repository';
import { AuthBootstrapService } from './auth-bootstrap.service';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { AuthenticationService } from './authentication.service';
import { OidcProvisioningRuleRepository } from './oidc-provisioning-rule.repository';
import { OidcVerifier } from './oidc-verifier';
import { PrincipalRepository } from './principal.repository';
import { RoleGrantRepository } from './role-grant.repository';

/** Principals, grants, tokens, OIDC trust, bootstrap, and the guard on every route. */
@Global()
@Module({
  controllers: [AuthController],
  providers: [
    AuthService,
    AuthenticationService,
    AuthBootstrapService,
    OidcVerifier,
    PrincipalRepository,
    RoleGrantRepository,
    ApiTokenRepository,
    OidcProvisioningRuleRepository,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [AuthenticationService],
})
export class AuthModule {}
