import { lookup } from 'node:dns';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
} from 'jose';
import { Agent, fetch, type Response } from 'undici';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { claimsMatch } from './oidc-claims';
import { DiscoveryBackoffError, DiscoveryBusyError, DiscoveryCache } from './oidc-discovery-cache';
import { checkIssuerUrl, internalAddressGuard, parseIssuerUrl } from './oidc-issuer-url';
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
/** A token signed with a key not in the cached set re-discovers at most this often per issuer. */
const KEY_ROTATION_COOLDOWN_MS = 30_000;
const DISCOVERY_BACKOFF_BASE_MS = 1000;
const DISCOVERY_BACKOFF_CAP_MS = 5 * 60_000;
/** Issuers discovered at once; tokens of a further issuer are turned away (503), not queued. */
const MAX_DISCOVERIES_IN_FLIGHT = 4;

/** Why an OIDC token was refused; logged, never shown with the token. */
export class OidcRejection extends Error {}

/** The token cannot be checked right now (every discovery slot is taken): try again soon. */
export class OidcUnavailable extends Error {}

export interface VerifiedOidcToken {
  readonly issuer: string;
  readonly subject: string;
  readonly payload: JWTPayload;
  /** The enabled rules of this issuer and audience whose claim conditions all match. */
  readonly matchingRules: OidcProvisioningRuleEntity[];
}

type KeySet = ReturnType<typeof createLocalJWKSet>;

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
 * Verifies JWTs from trusted issuers. Nothing is fetched for a token that names no enabled
 * rule's issuer or an algorithm we never accept. An issuer's discovery document and JWKS are
 * fetched together (timeout, size cap, no redirects, no internal addresses unless allowed),
 * kept for DISCOVERY_TTL_MS, fetched again early only for an unknown `kid` (key rotation) and
 * at most once per cooldown; a failed discovery is remembered with exponential backoff, one
 * discovery per issuer is in flight and at most MAX_DISCOVERIES_IN_FLIGHT over all issuers.
 * Then the signature, `aud`, `exp`, `nbf` and the algorithm are checked.
 */
@Injectable()
export class OidcVerifier implements OnModuleDestroy {
  private readonly discovery = new DiscoveryCache<KeySet>({
    ttlMs: DISCOVERY_TTL_MS,
    backoffBaseMs: DISCOVERY_BACKOFF_BASE_MS,
    backoffCapMs: DISCOVERY_BACKOFF_CAP_MS,
    maxInFlight: MAX_DISCOVERIES_IN_FLIGHT,
  });
  /** Every issuer fetch goes through it: its lookup refuses names resolving internally. */
  private readonly agent: Agent;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly rules: OidcProvisioningRuleRepository,
  ) {
    this.agent = new Agent({
      connect: { lookup: internalAddressGuard(config.auth, lookup) },
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }

  /** Whether a bearer credential looks like a JWT at all (three base64url segments). */
  static looksLikeJwt(token: string): boolean {
    return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
  }

  async verify(token: string): Promise<VerifiedOidcToken> {
    let unverified: JWTPayload;
    let alg: unknown;
    try {
      unverified = decodeJwt(token);
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new OidcRejection('not a decodable JWT');
    }
    if (typeof alg !== 'string' || !ALGORITHMS.includes(alg))
      throw new OidcRejection(
        `algorithm ${String(JSON.stringify(alg)).slice(0, 20)} is not accepted`,
      );
    if (typeof unverified.iss !== 'string') throw new OidcRejection('no iss claim');
    const parsed = parseIssuerUrl(unverified.iss);
    if ('problem' in parsed) throw new OidcRejection('iss is not an issuer URL');
    const issuer = parsed.url;
    const rules = await this.rules.findEnabledByIssuer(issuer);
    if (rules.length === 0) throw new OidcRejection('issuer is not trusted by any enabled rule');
    // The policy may have changed since the rule was saved.
    const checked = checkIssuerUrl(issuer, this.config.auth);
    if ('problem' in checked) throw new OidcRejection(`issuer URL ${checked.problem}`);

    // `iss` needs no check of its own: it is this token's, and chose the issuer and keys.
    const payload = await this.verifySignature(issuer, token, {
      audience: [...new Set(rules.map((r) => r.audience))],
      algorithms: ALGORITHMS,
      clockTolerance: 30,
      requiredClaims: ['exp', 'sub'],
    });
    const subject = String(payload.sub);
    const audiences = new Set(Array.isArray(payload.aud) ? payload.aud : [payload.aud]);
    const matchingRules = rules.filter(
      (r) => audiences.has(r.audience) && claimsMatch(r.claims, payload as Record<string, unknown>),
    );
    return { issuer, subject, payload, matchingRules };
  }

  private async verifySignature(
    issuer: string,
    token: string,
    options: Parameters<typeof jwtVerify>[2],
  ): Promise<JWTPayload> {
    const keys = await this.keySet(issuer);
    let fresh: KeySet;
    try {
      return (await jwtVerify(token, keys, options)).payload;
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw rejection(error);
      // An unknown kid: the issuer may have rotated its keys since we fetched them.
      fresh = await this.keySet(issuer, KEY_ROTATION_COOLDOWN_MS);
      if (fresh === keys) throw rejection(error);
    }
    try {
      return (await jwtVerify(token, fresh, options)).payload;
    } catch (error) {
      throw rejection(error);
    }
  }

  private async keySet(issuer: string, maxAgeMs?: number): Promise<KeySet> {
    try {
      return await this.discovery.get(issuer, () => this.discover(issuer), maxAgeMs);
    } catch (error) {
      if (error instanceof DiscoveryBusyError) throw new OidcUnavailable(error.message);
      if (error instanceof DiscoveryBackoffError) throw new OidcRejection(error.message);
      throw error;
    }
  }

  private async discover(issuer: string): Promise<KeySet> {
    const discovery = (await this.fetchJson(
      `${issuer}/.well-known/openid-configuration`,
      DISCOVERY_MAX_BYTES,
      'discovery',
    )) as { issuer?: unknown; jwks_uri?: unknown } | null;
    const named = typeof discovery?.issuer === 'string' ? parseIssuerUrl(discovery.issuer) : null;
    if (!named || !('url' in named) || named.url !== issuer)
      throw new OidcRejection('discovery document names another issuer');
    if (typeof discovery?.jwks_uri !== 'string')
      throw new OidcRejection('discovery document has no jwks_uri');
    const jwksProblem = checkIssuerUrl(discovery.jwks_uri, this.config.auth);
    if ('problem' in jwksProblem) throw new OidcRejection(`jwks_uri ${jwksProblem.problem}`);

    const jwks = await this.fetchJson(new URL(discovery.jwks_uri).href, JWKS_MAX_BYTES, 'JWKS');
    try {
      return createLocalJWKSet(jwks as JSONWebKeySet);
    } catch (error) {
      throw rejection(error);
    }
  }

  private async fetchJson(url: string, limit: number, what: string): Promise<unknown> {
    try {
      const response = await fetch(url, {
        signal: AbortSignal.timeout(this.config.auth.oidcFetchTimeoutMs),
        redirect: 'error',
        headers: { accept: 'application/json' },
        dispatcher: this.agent,
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new OidcRejection(`${what} answered ${response.status}`);
      }
      return JSON.parse(await cappedText(response, limit));
    } catch (error) {
      if (error instanceof OidcRejection) throw error;
      const cause = (error as Error).cause as Error | undefined;
      throw new OidcRejection(
        `${what} failed: ${(error as Error).message}${cause?.message ? ` (${cause.message})` : ''}`,
      );
    }
  }
}

function rejection(error: unknown): unknown {
  if (error instanceof joseErrors.JOSEError)
    return new OidcRejection(`${error.code}: ${error.message}`);
  return error;
}
