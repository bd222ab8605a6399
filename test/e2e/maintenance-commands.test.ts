import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Client } from 'pg';
import { createBlobStore } from '../../src/cas/blob-store/blob-store.module';
import type { BlobStore } from '../../src/cas/blob-store/blob-store';
import { casKeyOf } from '../../src/cas/digest';
import type { Env } from '../../src/config/app-config';
import { bearer, issueIdentity, type IssuedIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { startS3rver, type RunningS3rver } from '../support/s3rver';
import { startTestApp, testEnv, type TestApp } from '../support/test-app';
import { uniqueTestDatabaseName, urlForDatabase, withAdminClient } from '../support/test-database';
import { uploadBlob } from '../support/uploads';
import { MAIN, runMain, type Ran } from '../support/main-process';

/** The environment `serve` of the app under test has, as an operator would run the commands. */
function cliEnv(app: TestApp, extra: Env = {}): Env {
  // Left at the commands' default (warnings and errors only), unlike the app under test.
  const { IMGSRV_LOG_LEVEL: _level, ...env } = testEnv({
    databaseUrl: app.database.url,
    dataDir: app.dataDir,
    env: {
      ...(app.config.blobStore.driver === 's3' ? s3Env : {}),
      IMGSRV_REDIS_PREFIX: app.config.redis.prefix,
      ...extra,
    },
  });
  return env;
}

let s3Env: Env = {};

async function sql<T = Record<string, unknown>>(
  app: TestApp,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: app.database.url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

beforeAll(() => {
  if (!existsSync(MAIN))
    throw new Error('dist/main.js is missing: npm test builds it first (npm run build)');
});

describe.each(['fs', 's3'] as const)('gc on the %s blob store', (driver) => {
  let s3: RunningS3rver | undefined;
  let app: TestApp;
  let store: BlobStore;
  let writer: IssuedIdentity;
  let garbage: { digest: string; size: number };
  let cited: { digest: string; size: number };

  beforeAll(async () => {
    let env: Env = { IMGSRV_CAS_SWEEP_INTERVAL: '0s' };
    if (driver === 's3') {
      s3 = await startS3rver();
      const bucket = `gc-${randomBytes(4).toString('hex')}`;
      await s3.createBucket(bucket);
      s3Env = {
        IMGSRV_BLOB_STORE: 's3',
        IMGSRV_S3_ENDPOINT: s3.endpoint,
        IMGSRV_S3_BUCKET: bucket,
        IMGSRV_S3_ACCESS_KEY_ID: s3.accessKeyId,
        IMGSRV_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      };
      env = { ...env, ...s3Env };
    }
    app = await startTestApp({ env });
    store = createBlobStore(app.config.blobStore);
    writer = await issueIdentity(app, 'content-writer');
    garbage = await uploadBlob(app, writer.headers, randomBytes(3000));
    cited = await uploadBlob(app, writer.headers, randomBytes(2000));
    expect((await api(app, 'POST', '/v1/images', writer.headers, { name: 'gc-img' })).status).toBe(
      201,
    );
    await api(app, 'POST', '/v1/images/gc-img/versions', writer.headers, { version: 'v1' });
    const artifact = await api(
      app,
      'POST',
      '/v1/images/gc-img/versions/v1/artifacts',
      writer.headers,
      {
        variant: 'default',
        operating_system: 'debian',
        architecture: 'amd64',
        format: 'qcow2',
        primary_blob_digest: cited.digest,
        primary_blob_size_bytes: cited.size,
        primary_media_type: 'application/x-qemu-disk',
      },
    );
    expect(artifact.status).toBe(201);
  });
  afterAll(async () => {
    await app?.close();
    await s3?.close();
    s3Env = {};
  });

  const rowOf = async (digest: string) =>
    (await sql(app, 'SELECT 1 FROM cas_blob WHERE digest = $1', [digest])).length === 1;
  const marks = async () =>
    (await sql<{ digest: string }>(app, 'SELECT digest FROM cas_blob_gc_mark')).map(
      (r) => r.digest,
    );
  const bytesOf = (digest: string) => store.stat(casKeyOf(digest));
  const json = (ran: Ran) => {
    expect(ran.status).toBe(0);
    expect(ran.stderr).not.toMatch(/"level":/);
    return JSON.parse(ran.stdout);
  };

  it('keeps blobs within the grace period: not listed, not marked', async () => {
    const grace = { IMGSRV_CAS_GC_GRACE: '1h' };
    expect(json(await runMain(['gc', '--dry-run', '--json'], cliEnv(app, grace)))).toMatchObject({
      dry_run: true,
      grace_ms: 3_600_000,
      blobs: [],
      total_bytes: 0,
    });
    expect(json(await runMain(['gc', '--json'], cliEnv(app, grace)))).toMatchObject({
      dry_run: false,
      blobs_marked: 0,
      blobs_deleted: 0,
    });
    expect(await marks()).toEqual([]);
  });

  it('lists an unreferenced blob past the grace with --dry-run, then marks it, then deletes it after the mark delay, and keeps the cited one', async () => {
    const env = cliEnv(app, { IMGSRV_CAS_GC_GRACE: '0s', IMGSRV_CAS_GC_DELETE_DELAY: '0s' });

    const preview = json(await runMain(['gc', '--dry-run', '--json'], env));
    expect(preview.blobs).toEqual([
      expect.objectContaining({
        digest: garbage.digest,
        size_bytes: 3000,
        marked_at: null,
        next_run: 'mark',
      }),
    ]);
    expect(preview.total_bytes).toBe(3000);
    expect(Date.parse(preview.blobs[0].last_referenced_at)).not.toBeNaN();
    const text = await runMain(['gc', '--dry-run'], env);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(garbage.digest);
    expect(text.stdout).not.toContain(cited.digest);
    expect(text.stdout).toMatch(/1 trusted blob\(s\) .*: 2\.9 KiB \(3000 bytes\)/);
    expect(text.stdout).toMatch(/dry run: nothing was marked or deleted/);
    // The dry run changed nothing.
    expect(await marks()).toEqual([]);
    expect(await rowOf(garbage.digest)).toBe(true);
    expect(await bytesOf(garbage.digest)).toEqual({ sizeBytes: 3000 });

    // First run: marks it, deletes nothing yet (the mark must stand for the mark delay).
    expect(json(await runMain(['gc', '--json'], env))).toMatchObject({
      blobs_marked: 1,
      blobs_deleted: 0,
      objects_deleted: 0,
    });
    expect(await marks()).toEqual([garbage.digest]);
    expect(await rowOf(garbage.digest)).toBe(true);
    expect(json(await runMain(['gc', '--dry-run', '--json'], env)).blobs).toEqual([
      expect.objectContaining({ digest: garbage.digest, next_run: 'wait' }),
    ]);

    // As if the mark delay had passed.
    await sql(app, `UPDATE cas_blob_gc_mark SET marked_at = now() - interval '10 minutes'`);
    expect(json(await runMain(['gc', '--dry-run', '--json'], env)).blobs).toEqual([
      expect.objectContaining({ digest: garbage.digest, next_run: 'delete' }),
    ]);
    expect(await rowOf(garbage.digest)).toBe(true);

    const ran = await runMain(['gc'], env);
    expect(ran.status).toBe(0);
    expect(ran.stdout).toMatch(/deleted 1 blob row\(s\), 2\.9 KiB \(3000 bytes\)/);
    expect(ran.stdout).toMatch(/deleted 1 object\(s\)/);
    expect(await rowOf(garbage.digest)).toBe(false);
    expect(await bytesOf(garbage.digest)).toBeNull();
    expect((await api(app, 'GET', `/v1/blobs/${garbage.digest}`, writer.headers)).status).toBe(404);
    expect(
      await sql(
        app,
        `SELECT 1 FROM audit_event WHERE action = 'blob.gc_delete' AND target_id = $1`,
        [garbage.digest],
      ),
    ).toHaveLength(1);

    // The blob a draft manifest cites stays, unmarked, with its bytes.
    expect(await rowOf(cited.digest)).toBe(true);
    expect(await bytesOf(cited.digest)).toEqual({ sizeBytes: 2000 });
    expect(await marks()).toEqual([]);
    expect(json(await runMain(['gc', '--dry-run', '--json'], env))).toMatchObject({
      blobs: [],
      pending_objects: [],
    });
  });
});

describe('token issue and token revoke', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { IMGSRV_CAS_SWEEP_INTERVAL: '0s' } });
  });
  afterAll(() => app.close());

  it('prints only a token, which authenticates as an auth-manager, and audits it as system:cli', async () => {
    const issued = await runMain(
      ['token', 'issue', '--principal', 'recovered operator', '--ttl', '1h', '--name', 'recovery'],
      cliEnv(app),
    );
    expect(issued.status).toBe(0);
    expect(issued.stdout).toMatch(/^imgsrv_[a-z0-9]{16}_[A-Za-z0-9_-]{43}\n$/);
    expect(issued.stderr).toMatch(/created principal "recovered operator"/);
    expect(issued.stderr).toMatch(/granted auth-manager on \*/);
    const token = issued.stdout.trim();
    const tokenId = token.split('_')[1];

    const principals = await api(app, 'GET', '/v1/auth/principals', bearer(token));
    expect(principals.status).toBe(200);
    const recovered = principals.body.principals.filter(
      (p: { display_name: string }) => p.display_name === 'recovered operator',
    );
    expect(recovered).toHaveLength(1);
    // auth-manager, nothing more.
    expect(
      (await api(app, 'POST', '/v1/images', bearer(token), { name: 'not-allowed' })).status,
    ).toBe(403);

    const events = await api(app, 'GET', '/v1/audit-events?action=api_token.create', bearer(token));
    expect(events.body.audit_events).toEqual([
      expect.objectContaining({
        principal_id: null,
        principal_name: 'system:cli',
        target_id: tokenId,
        detail: expect.objectContaining({ principal_id: recovered[0].id, name: 'recovery' }),
      }),
    ]);
    const granted = await api(app, 'GET', '/v1/audit-events?action=role_grant.put', bearer(token));
    expect(granted.body.audit_events).toEqual([
      expect.objectContaining({ principal_name: 'system:cli', target_id: recovered[0].id }),
    ]);
    const [row] = await sql<{ expires_at: Date; created_at: Date }>(
      app,
      'SELECT expires_at, created_at FROM api_token WHERE id = $1',
      [tokenId],
    );
    expect(row.expires_at.getTime() - row.created_at.getTime()).toBeGreaterThan(3_500_000);
    expect(row.expires_at.getTime() - row.created_at.getTime()).toBeLessThanOrEqual(3_660_000);

    // Issuing again reuses the principal and its grant; revoking by the token itself works.
    const again = await runMain(
      ['token', 'issue', '--principal', 'recovered operator'],
      cliEnv(app),
    );
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/reused principal .*already holds auth-manager on \*/);
    expect(
      await sql(app, `SELECT 1 FROM principal WHERE display_name = 'recovered operator'`),
    ).toHaveLength(1);
    const revoked = await runMain(['token', 'revoke', token], cliEnv(app));
    expect(revoked.status).toBe(0);
    expect(revoked.stdout).toBe('');
    expect((await api(app, 'GET', '/v1/auth/principals', bearer(token))).status).toBe(401);
    expect((await api(app, 'GET', '/v1/auth/principals', bearer(again.stdout.trim()))).status).toBe(
      200,
    );
  });

  it('grants the role asked for, scoped to the images given', async () => {
    const issued = await runMain(
      ['token', 'issue', '--principal', 'ci', '--role', 'content-writer', '--images', 'debian-*'],
      cliEnv(app),
    );
    expect(issued.status).toBe(0);
    const headers = bearer(issued.stdout.trim());
    expect((await api(app, 'POST', '/v1/images', headers, { name: 'debian-13' })).status).toBe(201);
    expect((await api(app, 'POST', '/v1/images', headers, { name: 'fedora-42' })).status).toBe(403);
  });

  it('refuses bad usage with exit status 2, saying why, before touching anything', async () => {
    const cases: [string[], RegExp][] = [
      [['token', 'issue'], /--principal/],
      [['token', 'issue', '--principal', 'x', '--role', 'admin'], /--role must be one of/],
      [
        ['token', 'issue', '--principal', 'x', '--ttl', 'soon'],
        /--ttl must be a positive duration/,
      ],
      [['token', 'issue', '--principal', 'x', '--ttl', '0s'], /--ttl must be a positive duration/],
      [['token', 'revoke'], /token revoke needs a token id/],
      [['token', 'revoke', 'nope'], /not a token id/],
      [['token', 'frobnicate'], /unknown token command "frobnicate"/],
      [['gc', '--force'], /Unknown option '--force'/],
      [['gc', 'now'], /Unexpected argument 'now'/],
    ];
    const results = await Promise.all(cases.map(([args]) => runMain(args, cliEnv(app))));
    results.forEach((ran, i) => {
      expect({ args: cases[i][0], status: ran.status, stdout: ran.stdout }).toEqual({
        args: cases[i][0],
        status: 2,
        stdout: '',
      });
      expect(ran.stderr).toMatch(cases[i][1]);
      expect(ran.stderr).toMatch(/usage: node dist\/main\.js/);
    });
  });

  it('refuses a database whose schema is behind, and changes nothing in it', async () => {
    const name = uniqueTestDatabaseName('maint');
    await withAdminClient((c) => c.query(`CREATE DATABASE ${name}`));
    try {
      const env = cliEnv(app, { IMGSRV_DATABASE_URL: urlForDatabase(name) });
      for (const args of [
        ['token', 'issue', '--principal', 'x'],
        ['gc', '--dry-run'],
      ]) {
        const ran = await runMain(args, env);
        expect(ran.status).toBe(1);
        expect(ran.stderr).toMatch(/schema is behind .*run `node dist\/main\.js migrate` first/);
        expect(ran.stdout).toBe('');
      }
      const client = new Client({ connectionString: urlForDatabase(name) });
      await client.connect();
      try {
        const tables = await client.query(
          `SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'`,
        );
        expect(tables.rowCount).toBe(0);
      } finally {
        await client.end();
      }
    } finally {
      await withAdminClient((c) => c.query(`DROP DATABASE IF EXISTS ${name}`));
    }
  });
});
