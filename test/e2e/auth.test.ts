import { execFileSync } from 'node:child_process';
import { generateKeyPair } from 'jose';
import { Client } from 'pg';
import { startTestApp, type TestApp } from '../support/test-app';
import { authCall, bearer, issueIdentity, type IssuedIdentity } from '../support/auth';
import { TestOidcIssuer, unsecuredJwt } from '../support/oidc-issuer';

const PROBLEM = 'application/problem+json';
/** The test issuers serve plain HTTP on 127.0.0.1: loopback, so internal. */
const OIDC_TEST_ENV = {
  IMGSRV_OIDC_ALLOW_INSECURE_LOOPBACK: 'true',
  IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS: '127.0.0.1',
};

async function status(
  app: TestApp,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
) {
  const res = await app.fetch(path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('auth', () => {
  let app: TestApp;
  const issued: IssuedIdentity[] = [];
  const ids: Record<string, IssuedIdentity> = {};

  beforeAll(async () => {
    app = await startTestApp();
    for (const role of ['reader', 'content-writer', 'release-manager', 'auth-manager'] as const) {
      ids[role] = await issueIdentity(app, role, ['*'], role);
      issued.push(ids[role]);
    }
    ids.none = await issueIdentity(app, [], ['*'], 'no grants');
    issued.push(ids.none);
  });
  afterAll(() => app.close());

  describe('bootstrap', () => {
    it('makes IMGSRV_BOOTSTRAP_TOKEN an auth-manager token', async () => {
      const res = await app.fetch('/v1/auth/whoami', { headers: bearer(app.bootstrapToken) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        principal: { display_name: string; grants: unknown[] };
        credential: { type: string; expires_at: string };
      };
      expect(body.principal.display_name).toBe('bootstrap');
      expect(body.principal.grants).toEqual([{ role_id: 'auth-manager', images: ['*'] }]);
      expect(body.credential.type).toBe('api_token');
      expect(Date.parse(body.credential.expires_at)).toBeGreaterThan(Date.now());
    });

    it('is idempotent across restarts', async () => {
      const second = await startTestApp({
        database: app.database,
        env: { IMGSRV_BOOTSTRAP_TOKEN: app.bootstrapToken },
      });
      await second.close();
      const events = (await authCall(
        app,
        'GET',
        '/v1/audit-events?action=principal.bootstrap',
      )) as { audit_events: unknown[] };
      expect(events.audit_events).toHaveLength(1);
    });
  });

  describe('the permission matrix', () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/auth/whoami'],
      ['GET', '/v1/auth/roles'],
      ['GET', '/v1/auth/principals'],
      ['POST', '/v1/auth/principals', { kind: 'user', display_name: 'matrix' }],
      ['GET', '/v1/audit-events'],
    ];
    const expected: Record<string, number[]> = {
      anonymous: [401, 401, 401, 401, 401],
      none: [200, 403, 403, 403, 403],
      reader: [200, 403, 403, 403, 403],
      'content-writer': [200, 403, 403, 403, 403],
      'release-manager': [200, 403, 403, 403, 403],
      'auth-manager': [200, 200, 200, 201, 200],
    };

    it.each(Object.keys(expected))('answers %s as the matrix says', async (who) => {
      const headers = who === 'anonymous' ? {} : ids[who].headers;
      const got = [];
      for (const [method, path, body] of routes)
        got.push(await status(app, method, path, headers, body));
      expect(got).toEqual(expected[who]);
    });

    it('answers 401 with WWW-Authenticate and 403 naming the missing action, as problems', async () => {
      const anonymous = await app.fetch('/v1/auth/principals');
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(anonymous.headers.get('content-type')).toContain(PROBLEM);
      const forbidden = await app.fetch('/v1/auth/principals', { headers: ids.reader.headers });
      expect(await forbidden.json()).toMatchObject({
        status: 403,
        code: 'FORBIDDEN',
        required_action: 'auth.manage',
      });
    });

    it('takes a revoked token or a removed grant into account on the very next request', async () => {
      const victim = await issueIdentity(app, 'auth-manager', ['*'], 'victim');
      expect(await status(app, 'GET', '/v1/auth/principals', victim.headers)).toBe(200);
      await authCall(app, 'DELETE', `/v1/auth/principals/${victim.principalId}/roles/auth-manager`);
      expect(await status(app, 'GET', '/v1/auth/principals', victim.headers)).toBe(403);
      await authCall(app, 'DELETE', `/v1/auth/api-tokens/${victim.tokenId}`);
      expect(await status(app, 'GET', '/v1/auth/whoami', victim.headers)).toBe(401);
      // Revoking again is a no-op.
      expect(
        await status(
          app,
          'DELETE',
          `/v1/auth/api-tokens/${victim.tokenId}`,
          bearer(app.bootstrapToken),
        ),
      ).toBe(204);
    });
  });

  describe('bad credentials', () => {
    const valid = () => ids.reader.token;
    const cases: [string, () => string | Promise<string>][] = [
      ['no scheme', () => valid()],
      ['an empty bearer', () => 'Bearer '],
      ['a garbage bearer', () => 'Bearer !!!not a token!!!'],
      ['an oversized header', () => `Bearer ${'a'.repeat(9000)}`],
      ['an unknown scheme', () => `Digest ${valid()}`],
      ['a well-formed unknown token', () => `Bearer imgsrv_${'q'.repeat(16)}_${'x'.repeat(43)}`],
      ['a wrong secret', () => `Bearer ${valid().slice(0, -4)}AAAA`],
      [
        'basic auth on an API route',
        () => `Basic ${Buffer.from(`x:${valid()}`).toString('base64')}`,
      ],
      ['a garbage JWT', () => 'Bearer aaaa.bbbb.cccc'],
      [
        'an unsigned JWT',
        () => `Bearer ${unsecuredJwt({ iss: 'https://issuer.example', sub: 'x', aud: 'imgsrv' })}`,
      ],
    ];

    it.each(cases)('answers %s with 401 problem+json', async (_, header) => {
      const res = await app.fetch('/v1/auth/whoami', {
        headers: { authorization: await header() },
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(res.headers.get('content-type')).toContain(PROBLEM);
      expect(await res.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    });

    it('refuses credentials even on open routes, and an expired token', async () => {
      expect(await status(app, 'GET', '/healthz', { authorization: 'Bearer nonsense' })).toBe(401);
      const expiring = await issueIdentity(app, 'reader', ['*'], 'expiring');
      const db = new Client({ connectionString: app.database.url });
      await db.connect();
      try {
        await db.query(
          "UPDATE api_token SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' WHERE id = $1",
          [expiring.tokenId],
        );
      } finally {
        await db.end();
      }
      expect(await status(app, 'GET', '/v1/auth/whoami', expiring.headers)).toBe(401);
    });
  });

  describe('management', () => {
    it('validates input strictly', async () => {
      const admin = bearer(app.bootstrapToken);
      expect(
        await status(app, 'POST', '/v1/auth/principals', admin, {
          kind: 'robot',
          display_name: 'x',
        }),
      ).toBe(400);
      expect(
        await status(app, 'POST', '/v1/auth/principals', admin, {
          kind: 'user',
          display_name: 'x',
          extra: 1,
        }),
      ).toBe(400);
      expect(await status(app, 'GET', '/v1/auth/principals/not-a-uuid', admin)).toBe(400);
      expect(
        await status(app, 'GET', '/v1/auth/principals/00000000-0000-4000-8000-000000000000', admin),
      ).toBe(404);
      expect(await status(app, 'GET', '/v1/auth/principals?limit=0', admin)).toBe(400);
      expect(await status(app, 'GET', '/v1/auth/principals?cursor=garbage', admin)).toBe(400);
      const p = ids.none.principalId;
      expect(await status(app, 'PUT', `/v1/auth/principals/${p}/roles/overlord`, admin, {})).toBe(
        404,
      );
      expect(
        await status(app, 'PUT', `/v1/auth/principals/${p}/roles/reader`, admin, {
          images: ['Bad/Glob'],
        }),
      ).toBe(400);
      expect(
        await status(app, 'PUT', `/v1/auth/principals/${p}/roles/reader`, admin, { images: [] }),
      ).toBe(400);
      const past = new Date(Date.now() - 1000).toISOString();
      expect(
        await status(app, 'POST', `/v1/auth/principals/${p}/api-tokens`, admin, {
          expires_at: past,
        }),
      ).toBe(400);
      const far = new Date(Date.now() + 400 * 86_400_000).toISOString();
      expect(
        await status(app, 'POST', `/v1/auth/principals/${p}/api-tokens`, admin, {
          expires_at: far,
        }),
      ).toBe(400);
      expect(
        await status(app, 'POST', `/v1/auth/principals/${p}/api-tokens`, admin, {
          expires_at: 'tomorrow',
        }),
      ).toBe(400);
      const validation = await app.fetch('/v1/auth/principals', {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'robot', display_name: '' }),
      });
      const problem = (await validation.json()) as { errors: { pointer: string }[] };
      expect(problem.errors.map((e) => e.pointer).sort()).toEqual(['/display_name', '/kind']);
    });

    it('lists principals and tokens page by page, without plaintext', async () => {
      const first = (await authCall(app, 'GET', '/v1/auth/principals?limit=2')) as {
        principals: { id: string }[];
        next_cursor: string;
      };
      expect(first.principals).toHaveLength(2);
      const seen = new Set(first.principals.map((p) => p.id));
      let cursor: string | null = first.next_cursor;
      while (cursor) {
        const page = (await authCall(
          app,
          'GET',
          `/v1/auth/principals?limit=2&cursor=${cursor}`,
        )) as {
          principals: { id: string }[];
          next_cursor: string | null;
        };
        for (const p of page.principals) {
          expect(seen.has(p.id)).toBe(false);
          seen.add(p.id);
        }
        cursor = page.next_cursor;
      }
      expect(seen.size).toBeGreaterThanOrEqual(6);
      const tokens = (await authCall(
        app,
        'GET',
        `/v1/auth/principals/${ids.reader.principalId}/api-tokens`,
      )) as {
        api_tokens: Record<string, unknown>[];
      };
      expect(tokens.api_tokens).toHaveLength(1);
      expect(tokens.api_tokens[0]).not.toHaveProperty('plaintext');
    });

    it('refuses to remove the last auth-manager grant', async () => {
      const fresh = await startTestApp();
      try {
        const who = (await authCall(fresh, 'GET', '/v1/auth/whoami')) as {
          principal: { id: string };
        };
        const res = await fresh.fetch(
          `/v1/auth/principals/${who.principal.id}/roles/auth-manager`,
          {
            method: 'DELETE',
            headers: bearer(fresh.bootstrapToken),
          },
        );
        expect(res.status).toBe(409);
        expect(await res.json()).toMatchObject({ code: 'LAST_AUTH_MANAGER' });
      } finally {
        await fresh.close();
      }
    });

    it('records every auth mutation in the audit log, filterable', async () => {
      const target = await issueIdentity(app, 'reader', ['debian-*'], 'audited');
      await authCall(app, 'DELETE', `/v1/auth/api-tokens/${target.tokenId}`);
      const all = (await authCall(app, 'GET', '/v1/audit-events?limit=500')) as {
        audit_events: {
          action: string;
          target_id: string;
          request_id: string;
          principal_name: string;
          detail: object;
        }[];
      };
      const mine = all.audit_events.filter(
        (e) => e.target_id === target.principalId || e.target_id === target.tokenId,
      );
      expect(mine.map((e) => e.action).sort()).toEqual([
        'api_token.create',
        'api_token.revoke',
        'principal.create',
        'role_grant.put',
      ]);
      for (const e of mine) {
        expect(e.principal_name).toBe('bootstrap');
        expect(e.request_id).toBeTruthy();
      }
      const revokes = (await authCall(app, 'GET', '/v1/audit-events?action=api_token.revoke')) as {
        audit_events: { action: string }[];
      };
      expect(revokes.audit_events.length).toBeGreaterThan(0);
      expect(revokes.audit_events.every((e) => e.action === 'api_token.revoke')).toBe(true);
    });
  });

  describe('OIDC rule issuers', () => {
    const createRule = (issuerUrl: string) =>
      app.fetch('/v1/auth/oidc-provisioning-rules', {
        method: 'POST',
        headers: { ...bearer(app.bootstrapToken), 'content-type': 'application/json' },
        body: JSON.stringify({
          display_name: 'issuer check',
          issuer_url: issuerUrl,
          audience: 'imgsrv',
          claims: {},
          role_id: 'reader',
        }),
      });

    it.each([
      'https://127.0.0.1/',
      'https://2130706433/',
      'https://0x7f.1/',
      'https://0177.0.0.1./',
      'https://[::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://localhost./',
      'https://issuer.localhost/',
      'https://10.0.0.1/',
      'https://172.16.5.4/',
      'https://192.168.1.1/',
      'https://169.254.169.254/latest/meta-data',
      'https://[fd00::1]/',
      'https://[fe80::1]/',
      'https://0/',
    ])('refuses the internal issuer %s unless allowed by configuration', async (url) => {
      const res = await createRule(url);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ pointer: '/issuer_url', detail: expect.stringMatching(/internal address/) }],
      });
    });

    it('stores the issuer URL normalised', async () => {
      const res = await createRule('https://Issuer.Example.:443/a/../b/');
      expect(res.status).toBe(201);
      const rule = (await res.json()) as { id: string; issuer_url: string };
      expect(rule.issuer_url).toBe('https://issuer.example/b');
      const stored = (await authCall(
        app,
        'GET',
        `/v1/auth/oidc-provisioning-rules/${rule.id}`,
      )) as { issuer_url: string };
      expect(stored.issuer_url).toBe('https://issuer.example/b');
      await authCall(app, 'DELETE', `/v1/auth/oidc-provisioning-rules/${rule.id}`);
    });
  });

  describe('secrets', () => {
    it('stores no token plaintext in the database and writes none to the logs', async () => {
      const dump = execFileSync('pg_dump', ['--data-only', app.database.url], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      const logs = app.logs.text();
      expect(dump).toContain('bootstrap');
      for (const token of [app.bootstrapToken, ...issued.map((i) => i.token)]) {
        const secret = token.slice(-43);
        expect(dump).not.toContain(secret);
        expect(logs).not.toContain(secret);
      }
    });
  });
});

describe('OIDC trusted publishing', () => {
  const issuer = new TestOidcIssuer();
  let app: TestApp;

  beforeAll(async () => {
    await issuer.start();
    app = await startTestApp({ env: OIDC_TEST_ENV });
    await authCall(app, 'POST', '/v1/auth/oidc-provisioning-rules', {
      display_name: 'release pipeline',
      issuer_url: issuer.url,
      audience: 'imgsrv',
      claims: { repository: 'acme/images', ref: 'refs/heads/*' },
      role_id: 'auth-manager',
    });
  });
  afterAll(async () => {
    await app.close();
    await issuer.stop();
  });

  const claims = { sub: 'repo:acme/images', repository: 'acme/images', ref: 'refs/heads/main' };
  const create = (token: string) =>
    status(app, 'POST', '/v1/auth/principals', bearer(token), {
      kind: 'user',
      display_name: 'made by ci',
    });

  it('lets a token whose claims match a rule call a write route, as a provisioned principal', async () => {
    expect(await create(await issuer.sign(claims))).toBe(201);
    const who = (await (
      await app.fetch('/v1/auth/whoami', { headers: bearer(await issuer.sign(claims)) })
    ).json()) as {
      principal: { oidc_issuer: string; oidc_subject: string; grants: unknown[] };
      credential: { type: string };
    };
    expect(who.principal).toMatchObject({
      oidc_issuer: issuer.url,
      oidc_subject: 'repo:acme/images',
    });
    expect(who.principal.grants).toEqual([{ role_id: 'auth-manager', images: ['*'] }]);
    expect(who.credential.type).toBe('oidc');
    const provisioned = (await authCall(
      app,
      'GET',
      '/v1/audit-events?action=principal.provision',
    )) as { audit_events: unknown[] };
    expect(provisioned.audit_events).toHaveLength(1);
  });

  it('gives no permission when one claim differs', async () => {
    expect(await create(await issuer.sign({ ...claims, repository: 'evil/images' }))).toBe(403);
  });

  it.each([
    ['a wrong audience', () => issuer.sign(claims, { audience: 'someone-else' })],
    [
      'an expired token',
      () => issuer.sign(claims, { expiresIn: Math.floor(Date.now() / 1000) - 120 }),
    ],
    [
      'another key',
      async () => issuer.sign(claims, { key: (await generateKeyPair('RS256')).privateKey }),
    ],
    ['an untrusted issuer', () => issuer.sign(claims, { issuer: 'https://untrusted.example' })],
    [
      'alg none',
      async () =>
        unsecuredJwt({
          ...claims,
          iss: issuer.url,
          aud: 'imgsrv',
          exp: Math.floor(Date.now() / 1000) + 60,
        }),
    ],
  ])('refuses %s with 401', async (_, token) => {
    expect(await create(await token())).toBe(401);
  });

  it('takes a disabled rule into account on the next token', async () => {
    const rules = (await authCall(app, 'GET', '/v1/auth/oidc-provisioning-rules')) as {
      oidc_provisioning_rules: Record<string, unknown>[];
    };
    const rule = rules.oidc_provisioning_rules[0];
    await authCall(app, 'PUT', `/v1/auth/oidc-provisioning-rules/${rule.id}`, {
      display_name: rule.display_name,
      issuer_url: rule.issuer_url,
      audience: rule.audience,
      claims: rule.claims,
      role_id: rule.role_id,
      enabled: false,
    });
    expect(await create(await issuer.sign(claims))).toBe(401);
  });

  it('refuses a rule with a non-https issuer unless loopback is allowed', async () => {
    const res = await app.fetch('/v1/auth/oidc-provisioning-rules', {
      method: 'POST',
      headers: { ...bearer(app.bootstrapToken), 'content-type': 'application/json' },
      body: JSON.stringify({
        display_name: 'x',
        issuer_url: 'http://issuer.example',
        audience: 'a',
        claims: {},
        role_id: 'reader',
      }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errors: [{ pointer: '/issuer_url' }] });
  });

  describe('issuer discovery', () => {
    const started: TestOidcIssuer[] = [];
    afterAll(() => Promise.all(started.map((i) => i.stop())));

    /** A new local issuer and an enabled rule trusting it. */
    async function trustedIssuer(): Promise<TestOidcIssuer> {
      const fresh = new TestOidcIssuer();
      await fresh.start();
      started.push(fresh);
      await authCall(app, 'POST', '/v1/auth/oidc-provisioning-rules', {
        display_name: 'discovery test',
        issuer_url: fresh.url,
        audience: 'imgsrv',
        claims: {},
        role_id: 'reader',
      });
      return fresh;
    }
    const whoami = (token: string) =>
      app.fetch('/v1/auth/whoami', { headers: bearer(token) }).then(async (res) => ({
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        body: (await res.json()) as Record<string, unknown>,
      }));
    const statusesOf = async (tokens: string[]) =>
      (await Promise.all(tokens.map(whoami))).map((r) => r.status);
    const times = <T>(n: number, value: T): T[] => Array<T>(n).fill(value);
    async function until(condition: () => boolean): Promise<void> {
      for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(condition()).toBe(true);
    }

    it('discovers an issuer once however many tokens arrive at once', async () => {
      const fresh = await trustedIssuer();
      const token = await fresh.sign(claims);
      expect(await statusesOf(times(25, token))).toEqual(times(25, 200));
      expect(await statusesOf(times(5, token))).toEqual(times(5, 200));
      expect([fresh.discoveryRequests, fresh.jwksRequests]).toEqual([1, 1]);
    });

    it('compares a token issuer in its normalised form', async () => {
      const fresh = await trustedIssuer();
      const port = new URL(fresh.url).port;
      const token = await fresh.sign(claims, { issuer: `http://2130706433:${port}/./` });
      const res = await whoami(token);
      expect(res.status).toBe(200);
      expect(res.body.principal).toMatchObject({ oidc_issuer: fresh.url });
    });

    it('spends no discovery on an unsigned token, and one on any number of forged ones', async () => {
      const fresh = await trustedIssuer();
      const unsigned = unsecuredJwt({
        ...claims,
        iss: fresh.url,
        aud: 'imgsrv',
        exp: Math.floor(Date.now() / 1000) + 60,
      });
      const noAlg = unsigned.replace(/^[^.]+/, Buffer.from('{"typ":"JWT"}').toString('base64url'));
      expect(await statusesOf([...times(20, unsigned), noAlg])).toEqual(times(21, 401));
      expect(fresh.discoveryRequests).toBe(0);

      const { privateKey } = await generateKeyPair('RS256');
      const forged = [
        await fresh.sign(claims, { key: privateKey }),
        await fresh.sign(claims, { key: privateKey, kid: 'rotated-in' }),
      ];
      expect(await statusesOf([...times(20, forged[0]), ...times(20, forged[1])])).toEqual(
        times(40, 401),
      );
      expect([fresh.discoveryRequests, fresh.jwksRequests]).toEqual([1, 1]);
    });

    it('remembers a failed discovery and tries again only after a backoff', async () => {
      const fresh = await trustedIssuer();
      fresh.discovery = 'fail';
      const token = await fresh.sign(claims);
      const started = Date.now();
      expect(await statusesOf(times(20, token))).toEqual(times(20, 401));
      // Within the first backoff (1 s) nothing asks again; a machine so loaded that the batches
      // took longer may have seen that backoff end once, never more.
      expect(fresh.discoveryRequests).toBe(
        Date.now() - started < 1_000 ? 1 : fresh.discoveryRequests,
      );
      expect(await statusesOf(times(20, token))).toEqual(times(20, 401));
      expect(fresh.discoveryRequests).toBe(
        Date.now() - started < 1_000 ? 1 : fresh.discoveryRequests,
      );
      expect(fresh.discoveryRequests).toBeLessThanOrEqual(2);
      expect(app.logs.text()).toMatch(/discovery answered 500 \(failed recently; next attempt/);

      fresh.discovery = 'ok';
      const failedAttempts = fresh.discoveryRequests;
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = (await whoami(token)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
      expect(fresh.discoveryRequests).toBe(failedAttempts + 1);
    });

    it('discovers at most four issuers at once and turns the others away with 503', async () => {
      const issuers = await Promise.all(Array.from({ length: 6 }, () => trustedIssuer()));
      for (const i of issuers) i.discovery = 'hold';
      const tokens = await Promise.all(issuers.map((i) => i.sign(claims)));
      const answered: number[] = [];
      const pending = tokens.map((t, n) =>
        whoami(t).then((res) => {
          answered.push(n);
          return res;
        }),
      );
      const discoveries = () => issuers.reduce((sum, i) => sum + i.discoveryRequests, 0);
      await until(() => discoveries() === 4 && answered.length === 2);
      const turnedAway = [...answered];
      const refused = await Promise.all(turnedAway.map((n) => pending[n]));
      for (const res of refused) {
        expect(res).toMatchObject({
          status: 503,
          retryAfter: '1',
          body: { code: 'DEPENDENCY_UNAVAILABLE' },
        });
      }
      expect(turnedAway.map((n) => issuers[n].discoveryRequests)).toEqual([0, 0]);
      expect(discoveries()).toBe(4);

      for (const i of issuers) i.release();
      const all = await Promise.all(pending);
      expect(all.filter((r) => r.status === 200)).toHaveLength(4);
      expect(await statusesOf(turnedAway.map((n) => tokens[n]))).toEqual([200, 200]);
      expect(issuers.map((i) => i.discoveryRequests)).toEqual(times(6, 1));
    });
  });
});
