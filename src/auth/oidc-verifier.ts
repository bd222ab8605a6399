import { Inject, Injectable } from '@nestjs/common';
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { claimsMatch, issuerUrlProblem, normalizeIssuer } from './oidc-claims';
import { OidcProvisioningRuleRepository } from './oidc-provisioning-rule.repository';
import type { OidcProvisioningRuleEntity } from './oidc-provisioning-rule.entity';

const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];
const DISCOVERY_MAX_BYTES = 64 * 1024;
const JWKS_MAX_BYTES = 256 * 1024;
const DISCOVERY_TTL_MS = 10 * 60_000;

/** Why an OIDC token was refused; logged, never shown with the token. */
export class OidcRejection extends Error {}

export interface VerifiedOidcToken {
  readonly issuer: string;
  readonly subject: string;
  readonly payload: JWTPayload;
  /** The enabled rules of this issuer and audience whose claim conditions all match. */
  readonly matchingRules: OidcProvisioningRuleEntity[];
}

type KeySet = ReturnType<typeof createRemoteJWKSet>;

/** Reads at most `limit` bytes of a response body, refusing anything larger. */
async function cappedText(response: Response, limit: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new OidcRejection(`response from ${response.url} exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Verifies JWTs from trusted issuers: discovery document and JWKS fetched with a timeout and a
 * size cap, keys cached and refreshed on an unknown `kid` (jose's remote key set), `iss`, `aud`,
 * `exp`, `nbf` and the algorithm checked.
 */
@Injectable()
export class OidcVerifier {
  private readonly keySets = new Map<string, { keys: KeySet; expires: number }>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly rules: OidcProvisioningRuleRepository,
  ) {}

  /** Whether a bearer credential looks like a JWT at all (three base64url segments). */
  static looksLikeJwt(token: string): boolean {
    return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
  }

  async verify(token: string): Promise<VerifiedOidcToken> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new OidcRejection('not a decodable JWT');
    }
    if (typeof unverified.iss !== 'string') throw new OidcRejection('no iss claim');
    const issuer = normalizeIssuer(unverified.iss);
    const rules = await this.rules.findEnabledByIssuer(issuer);
    if (rules.length === 0) throw new OidcRejection('issuer is not trusted by any enabled rule');
    const problem = issuerUrlProblem(issuer, this.config.auth.oidcAllowInsecureLoopback);
    if (problem) throw new OidcRejection(`issuer URL ${problem}`);

    const keys = await this.keySetFor(issuer);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: [issuer, `${issuer}/`],
        audience: [...new Set(rules.map((r) => r.audience))],
        algorithms: ALGORITHMS,
        clockTolerance: 30,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JOSEError)
        throw new OidcRejection(`${error.code}: ${error.message}`);
      throw error;
    }
    const subject = String(payload.sub);
    const audiences = new Set(Array.isArray(payload.aud) ? payload.aud : [payload.aud]);
    const matchingRules = rules.filter(
      (r) => audiences.has(r.audience) && claimsMatch(r.claims, payload as Record<string, unknown>),
    );
    return { issuer, subject, payload, matchingRules };
  }

  private async keySetFor(issuer: string): Promise<KeySet> {
    const cached = this.keySets.get(issuer);
    if (cached && cached.expires > Date.now()) return cached.keys;

    const timeout = this.config.auth.oidcFetchTimeoutMs;
    let discovery: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(`${issuer}/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(timeout),
        redirect: 'error',
      });
      if (!response.ok) throw new OidcRejection(`discovery answered ${response.status}`);
      discovery = JSON.parse(await cappedText(response, DISCOVERY_MAX_BYTES)) as typeof discovery;
    } catch (error) {
      if (error instanceof OidcRejection) throw error;
      throw new OidcRejection(`discovery failed: ${(error as Error).message}`);
    }
    if (typeof discovery.issuer !== 'string' || normalizeIssuer(discovery.issuer) !== issuer) {
      throw new OidcRejection('discovery document names another issuer');
    }
    if (typeof discovery.jwks_uri !== 'string')
      throw new OidcRejection('discovery document has no jwks_uri');
    const jwksProblem = issuerUrlProblem(
      discovery.jwks_uri,
      this.config.auth.oidcAllowInsecureLoopback,
    );
    if (jwksProblem) throw new OidcRejection(`jwks_uri ${jwksProblem}`);

    const keys = createRemoteJWKSet(new URL(discovery.jwks_uri), {
      timeoutDuration: timeout,
      cooldownDuration: 30_000,
      cacheMaxAge: DISCOVERY_TTL_MS,
      [customFetch]: async (url: string, options: RequestInit) => {
        const response = await fetch(url, { ...options, redirect: 'error' });
        const text = await cappedText(response, JWKS_MAX_BYTES);
        return new Response(text, { status: response.status, headers: response.headers });
      },
    });
    this.keySets.set(issuer, { keys, expires: Date.now() + DISCOVERY_TTL_MS });
    return keys;
  }
}
