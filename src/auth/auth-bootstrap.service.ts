import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { generateApiToken, hashSecret, parseApiToken } from './api-token';
import { ApiTokenRepository } from './api-token.repository';
import { PrincipalRepository } from './principal.repository';
import { RoleGrantRepository } from './role-grant.repository';

/**
 * When nobody holds auth-manager, creates a principal that does, with a short-lived token: the
 * configured IMGSRV_BOOTSTRAP_TOKEN, or a fresh one printed once on stdout. Runs under an
 * advisory lock, so processes starting together create one.
 */
@Injectable()
export class AuthBootstrapService implements OnApplicationBootstrap {
  constructor(
    private readonly dataSource: DataSource,
    private readonly principals: PrincipalRepository,
    private readonly grants: RoleGrantRepository,
    private readonly tokens: ApiTokenRepository,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const configured = this.config.auth.bootstrapToken
      ? parseApiToken(this.config.auth.bootstrapToken)
      : null;
    const result = await this.dataSource.transaction(async (manager) => {
      await this.grants.lockAuthManagers(manager);
      if ((await this.grants.countHolders(manager, 'auth-manager')) > 0) return null;
      if (configured && (await this.tokens.findById(configured.id, manager))) return null;

      const token = configured ? { ...configured, plaintext: null } : generateApiToken();
      const principal = await this.principals.insert(manager, {
        kind: 'service',
        displayName: 'bootstrap',
        attributes: { bootstrap: true },
      });
      await this.grants.upsert(manager, principal.id, 'auth-manager', ['*']);
      const expiresAt = new Date(Date.now() + this.config.auth.bootstrapTokenTtlMs);
      await this.tokens.insert(manager, {
        id: token.id,
        principalId: principal.id,
        name: 'bootstrap',
        secretSha256: hashSecret(token.secret),
        expiresAt,
        createdBy: null,
      });
      const actor = { principal: null, requestId: null };
      await this.audit.record(manager, {
        actor,
        action: 'principal.bootstrap',
        targetType: 'principal',
        targetId: principal.id,
        detail: {
          role_id: 'auth-manager',
          token_id: token.id,
          expires_at: expiresAt.toISOString(),
        },
      });
      return {
        principalId: principal.id,
        tokenId: token.id,
        plaintext: token.plaintext,
        expiresAt,
      };
    });
    if (!result) return;
    this.logger.info(
      { principalId: result.principalId, tokenId: result.tokenId },
      'bootstrapped an auth-manager',
    );
    if (result.plaintext) {
      process.stdout.write(
        `imgsrv: bootstrap auth-manager token (expires ${result.expiresAt.toISOString()}; shown once):\n${result.plaintext}\n`,
      );
    }
  }
}
