import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/errors/domain-error';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { parseApiToken, secretMatches } from './api-token';
import { ApiTokenRepository, type TokenForAuth } from './api-token.repository';
import { OidcRejection, OidcUnavailable, OidcVerifier } from './oidc-verifier';
import { Principal, type Grant } from './principal';
import { PrincipalRepository } from './principal.repository';

const MAX_AUTHORIZATION_LENGTH = 8192;
/** How often one process records a token's use at most (the SQL also refuses more often). */
const TOUCH_INTERVAL_MS = 60_000;

export interface AuthenticateOptions {
  /** Streams and downloads take an API token as the HTTP Basic password (private Incus remotes). */
  readonly basicAllowed: boolean;
  readonly requestId: string;
}

/**
 * Turns an Authorization header into a Principal: API tokens, OIDC JWTs, or (where allowed) an
 * API token as the Basic password. No header: anonymous (null). Anything presented but not
 * valid: 401, whatever the route, and the reason is logged without the credential.
 */
@Injectable()
export class AuthenticationService {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly tokens: ApiTokenRepository,
    private readonly principals: PrincipalRepository,
    private readonly oidc: OidcVerifier,
    private readonly audit: AuditService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async authenticate(
    authorization: string | undefined,
    options: AuthenticateOptions,
  ): Promise<Principal | null> {
    if (authorization === undefined) return null;
    if (authorization.length > MAX_AUTHORIZATION_LENGTH)
      return this.reject('authorization header too long', options);
    const space = authorization.indexOf(' ');
    const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
    const credential = space < 0 ? '' : authorization.slice(space + 1).trim();

    if (scheme === 'bearer') {
      if (credential.startsWith('imgsrv_')) return this.fromApiToken(credential, options);
      if (OidcVerifier.looksLikeJwt(credential)) return this.fromOidc(credential, options);
      return this.reject('bearer credential is neither an API token nor a JWT', options);
    }
    if (scheme === 'basic' && options.basicAllowed) {
      let password: string;
      try {
        const decoded = Buffer.from(credential, 'base64').toString('utf8');
        password = decoded.slice(decoded.indexOf(':') + 1);
        if (!decoded.includes(':')) throw new Error('no colon');
      } catch {
        return this.reject('malformed basic credentials', options);
      }
      return this.fromApiToken(password, options);
    }
    return this.reject(
      `unsupported authorization scheme ${JSON.stringify(scheme.slice(0, 20))}`,
      options,
    );
  }

  private async fromApiToken(plaintext: string, options: AuthenticateOptions): Promise<Principal> {
    const parsed = parseApiToken(plaintext);
    if (!parsed) return this.reject('malformed API token', options);
    const token = await this.tokens.findForAuth(parsed.id);
    if (!token || !secretMatches(parsed.secret, token.secretSha256)) {
      return this.reject(`unknown token or wrong secret (token id ${parsed.id})`, options);
    }
    if (token.revokedAt) return this.reject(`token ${token.id} is revoked`, options);
    if (token.expiresAt.getTime() <= Date.now())
      return this.reject(`token ${token.id} expired`, options);
    return this.principalOf(token);
  }

  /**
   * The principal of an API token known by id (a web catalog session holds the id, never the
   * secret), with its grants as they are now; null when the token is gone, revoked or expired.
   */
  async principalOfToken(tokenId: string): Promise<Principal | null> {
    const token = await this.tokens.findForAuth(tokenId);
    if (!token || token.revokedAt || token.expiresAt.getTime() <= Date.now()) return null;
    return this.principalOf(token);
  }

  /** Checks a plaintext API token as authenticate does: its id and expiry, or null. */
  async checkApiToken(plaintext: string): Promise<{ id: string; expiresAt: Date } | null> {
    const parsed = parseApiToken(plaintext);
    if (!parsed) return null;
    const token = await this.tokens.findForAuth(parsed.id);
    if (!token || !secretMatches(parsed.secret, token.secretSha256)) return null;
    if (token.revokedAt || token.expiresAt.getTime() <= Date.now()) return null;
    return { id: token.id, expiresAt: token.expiresAt };
  }

  private principalOf(token: TokenForAuth): Principal {
    this.touch(token.id);
    return new Principal(
      token.principal.id,
      token.principal.kind,
      token.principal.displayName,
      token.grants,
      { type: 'api_token', id: token.id },
    );
  }

  private async fromOidc(jwt: string, options: AuthenticateOptions): Promise<Principal> {
    let verified;
    try {
      verified = await this.oidc.verify(jwt);
    } catch (error) {
      if (error instanceof OidcRejection)
        return this.reject(`OIDC token refused: ${error.message}`, options);
      if (error instanceof OidcUnavailable) {
        this.logger.warn(
          { reqId: options.requestId, reason: error.message },
          'OIDC token not checked: issuer discovery busy',
        );
        throw new DomainError(
          'DEPENDENCY_UNAVAILABLE',
          'The OIDC issuer cannot be checked right now; try again shortly.',
          {},
          { 'retry-after': '1' },
        );
      }
      throw error;
    }
    const displayName = `oidc:${new URL(verified.issuer).host}:${verified.subject}`.slice(0, 200);
    const principal = await this.dataSource.transaction(async (manager) => {
      const p = await this.principals.upsertOidc(
        manager,
        verified.issuer,
        verified.subject,
        displayName,
      );
      if (p.created) {
        await this.audit.record(manager, {
          actor: { principal: null, requestId: options.requestId },
          action: 'principal.provision',
          targetType: 'principal',
          targetId: p.id,
          detail: { issuer: verified.issuer, subject: verified.subject },
        });
      }
      return p;
    });
    // Grants of OIDC principals are exactly what their matching rules give, on every token.
    const grants: Grant[] = verified.matchingRules.map((r) => ({
      roleId: r.roleId,
      images: r.images,
    }));
    return new Principal(principal.id, 'service', principal.displayName, grants, {
      type: 'oidc',
      id: verified.subject,
    });
  }

  private touch(tokenId: string): void {
    const now = Date.now();
    if ((this.touched.get(tokenId) ?? 0) > now - TOUCH_INTERVAL_MS) return;
    this.touched.set(tokenId, now);
    if (this.touched.size > 10_000) this.touched.clear();
    this.tokens.touch(tokenId).catch((error: unknown) => {
      this.logger.warn(
        { err: { message: (error as Error).message }, tokenId },
        'could not record token use',
      );
    });
  }

  private reject(reason: string, options: AuthenticateOptions): never {
    this.logger.info({ reqId: options.requestId, reason }, 'authentication failed');
    throw new DomainError(
      'UNAUTHENTICATED',
      'The credentials are missing, malformed, expired or revoked.',
      {},
      {
        'www-authenticate': options.basicAllowed
          ? 'Bearer realm="imgsrv", Basic realm="imgsrv"'
          : 'Bearer realm="imgsrv"',
      },
    );
  }
}
