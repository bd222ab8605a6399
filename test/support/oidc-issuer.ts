import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type JWK,
  type JWTPayload,
  type CryptoKey,
} from 'jose';

/**
 * A real OIDC issuer on loopback: discovery document, JWKS, and a signer. Enough for imgsrv to
 * verify tokens exactly as it would verify a CI system's.
 */
export class TestOidcIssuer {
  private server: Server | undefined;
  private privateKey: CryptoKey | undefined;
  private jwk: JWK | undefined;
  url = '';
  jwksRequests = 0;
  discoveryRequests = 0;
  /**
   * How discovery answers: `ok`, `fail` (500), or `hold` (no answer until release(), to keep a
   * discovery in flight).
   */
  discovery: 'ok' | 'fail' | 'hold' = 'ok';
  private held: ServerResponse[] = [];

  async start(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    this.privateKey = privateKey;
    this.jwk = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
    this.server = createServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') {
        this.discoveryRequests++;
        if (this.discovery === 'fail') res.writeHead(500).end();
        else if (this.discovery === 'hold') this.held.push(res);
        else this.answerDiscovery(res);
      } else if (req.url === '/jwks') {
        this.jwksRequests++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [this.jwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.release();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  /** Answers the held discovery requests, and later ones at once. */
  release(): void {
    this.discovery = 'ok';
    for (const res of this.held.splice(0)) this.answerDiscovery(res);
  }

  private answerDiscovery(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ issuer: this.url, jwks_uri: `${this.url}/jwks` }));
  }

  /** A token signed with this issuer's key; override anything through `claims` and `options`. */
  async sign(
    claims: JWTPayload,
    options: {
      audience?: string;
      expiresIn?: string | number;
      issuer?: string;
      key?: CryptoKey;
      kid?: string;
    } = {},
  ): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'test-key-1' })
      .setIssuer(options.issuer ?? this.url)
      .setAudience(options.audience ?? 'imgsrv')
      .setSubject(String(claims.sub ?? 'repo:acme/images:ref:refs/heads/main'))
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m')
      .sign(options.key ?? this.privateKey!);
  }
}

/** An unsigned JWT (`alg: none`), which must never be accepted. */
export function unsecuredJwt(payload: JWTPayload): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`;
}
