import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
 * configured IMGSRV_BOOTSTRAP_TOKEN, or a fresh one written to `bootstrap-token` in the data
 * directory (mode 0600) and shown on stdout only when stdout is a terminal; no log line carries
 * it. Runs under an advisory lock, so processes starting together create one.
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

  private tokenFile(): string {
    return join(this.config.dataDir, BOOTSTRAP_TOKEN_FILE);
  }

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
      // Before the commit: a token nobody could read would lock everyone out, as an auth-manager
      // exists from then on. A file whose token did not commit is replaced at the next start.
      if (token.plaintext) await writeSecretFile(this.tokenFile(), `${token.plaintext}\n`);
      return {
        principalId: principal.id,
        tokenId: token.id,
        plaintext: token.plaintext,
        expiresAt,
      };
    });
    if (!result) return;
    if (!result.plaintext) {
      this.logger.info(
        { principalId: result.principalId, tokenId: result.tokenId },
        'bootstrapped an auth-manager with IMGSRV_BOOTSTRAP_TOKEN',
      );
      return;
    }
    const tokenFile = this.tokenFile();
    this.logger.info(
      {
        principalId: result.principalId,
        tokenId: result.tokenId,
        tokenFile,
        expiresAt: result.expiresAt.toISOString(),
      },
      'bootstrapped an auth-manager; its token is in tokenFile (readable by this user only)',
    );
    // A person at a terminal sees it at once; a log collector reading stdout never does.
    if (process.stdout.isTTY)
      process.stdout.write(
        `\nimgsrv: bootstrap auth-manager token (expires ${result.expiresAt.toISOString()}; also in ${tokenFile}):\n${result.plaintext}\n\n`,
      );
  }
}

/** The file in the data directory that holds a generated bootstrap token (mode 0600). */
export const BOOTSTRAP_TOKEN_FILE = 'bootstrap-token';

/** Writes `text` to `path` readable by this user only, whole or not at all. */
async function writeSecretFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, text, { mode: 0o600, flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
