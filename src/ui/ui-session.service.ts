import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { AuthenticationService } from '../auth/authentication.service';
import type { Principal } from '../auth/principal';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';

/** The cookie that names a signed-in browser's session (only under /ui, never to scripts). */
export const SESSION_COOKIE = 'imgsrv_ui_session';

/** Who is looking at a page: the signed-in principal (or none) and the session's CSRF token. */
export interface UiVisitor {
  readonly principal: Principal | null;
  /** For forms that change something (sign-out): derived from the session id, never stored. */
  readonly csrf: string | null;
}

const ANONYMOUS: UiVisitor = { principal: null, csrf: null };
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Web catalog sessions. Signing in checks an API token exactly as the API does and stores, in
 * PostgreSQL, the SHA-256 of a random session id with the token's id: the browser holds only the
 * session id, in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS). Each page reads the
 * token's principal and grants afresh, so a revoked token or a changed grant takes effect at once.
 * Sessions end at IMGSRV_UI_SESSION_TTL or the token's expiry, whichever is first, or at sign-out.
 */
@Injectable()
export class UiSessionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly authentication: AuthenticationService,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The visitor a request's session cookie names; anonymous without a valid one. */
  async visitor(request: FastifyRequest): Promise<UiVisitor> {
    const id = this.sessionId(request);
    if (!id) return ANONYMOUS;
    const rows: { token_id: string }[] = await this.dataSource.query(
      'SELECT token_id FROM ui_session WHERE id_sha256 = $1 AND expires_at > now()',
      [sha256(id)],
    );
    const tokenId = rows[0]?.token_id;
    if (!tokenId) return ANONYMOUS;
    const principal = await this.authentication.principalOfToken(tokenId);
    return principal ? { principal, csrf: csrfOf(id) } : ANONYMOUS;
  }

  /**
   * Starts a session for a valid API token; returns the Set-Cookie header value, or null when
   * the token is not valid (unknown, wrong secret, revoked or expired).
   */
  async signIn(request: FastifyRequest, token: string): Promise<string | null> {
    const checked = await this.authentication.checkApiToken(token.trim());
    const principal = checked && (await this.authentication.principalOfToken(checked.id));
    if (!checked || !principal) return null;
    const id = randomBytes(32).toString('base64url');
    const expiresAt = new Date(
      Math.min(Date.now() + this.config.ui.sessionTtlMs, checked.expiresAt.getTime()),
    );
    await this.dataSource.transaction(async (manager) => {
      await manager.query(
        'INSERT INTO ui_session (id_sha256, token_id, expires_at) VALUES ($1, $2, $3)',
        [sha256(id), checked.id, expiresAt],
      );
      // Sessions past their time are of no use to anyone: each sign-in clears a few.
      await manager.query(
        `DELETE FROM ui_session WHERE id_sha256 IN (
           SELECT id_sha256 FROM ui_session WHERE expires_at <= now() LIMIT 100)`,
      );
      await this.audit.record(manager, {
        actor: { principal, requestId: String(request.id) },
        action: 'ui.sign_in',
        targetType: 'api_token',
        targetId: checked.id,
        detail: { expires_at: expiresAt.toISOString() },
      });
    });
    return this.cookie(
      request,
      id,
      Math.max(1, Math.floor((expiresAt.getTime() - Date.now()) / 1000)),
    );
  }

  /** Ends the request's session (if the CSRF token matches); the cookie that clears it. */
  async signOut(request: FastifyRequest, csrf: string | undefined): Promise<string | null> {
    const id = this.sessionId(request);
    if (!id || !csrf || !sameText(csrf, csrfOf(id))) return null;
    await this.dataSource.query('DELETE FROM ui_session WHERE id_sha256 = $1', [sha256(id)]);
    return this.cookie(request, '', 0);
  }

  /** Whether `csrf` is the CSRF token of the request's session. */
  csrfMatches(request: FastifyRequest, csrf: string | undefined): boolean {
    const id = this.sessionId(request);
    return Boolean(id && csrf && sameText(csrf, csrfOf(id)));
  }

  private sessionId(request: FastifyRequest): string | null {
    const header = request.headers.cookie;
    if (typeof header !== 'string' || header.length > 8192) return null;
    const value = parseCookie(header)[SESSION_COOKIE];
    return value && SESSION_ID.test(value) ? value : null;
  }

  private cookie(request: FastifyRequest, value: string, maxAge: number): string {
    return stringifySetCookie({
      name: SESSION_COOKIE,
      value,
      path: '/ui',
      httpOnly: true,
      secure: request.protocol === 'https',
      sameSite: 'strict',
      maxAge,
    });
  }
}

/** The session's CSRF token: an HMAC of a constant under the session id, which scripts never see. */
function csrfOf(sessionId: string): string {
  return createHmac('sha256', sessionId).update('imgsrv-ui-csrf').digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
