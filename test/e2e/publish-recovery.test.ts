import { randomBytes } from 'node:crypto';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { metric, startDedicatedRedis, type DedicatedRedis } from '../support/processes';
import { composeDraft, publishPath, stepOf, streamsRowsOf, waitForJob } from '../support/publish';
import { holdTableLock, waitForLockWaiter } from '../support/sql';
import { eventually } from '../support/waiting';
import { startS3rver, type RunningS3rver } from '../support/s3rver';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestApp, type TestApp } from '../support/test-app';

/** What every scenario publishes: one real qcow2 with its amd64 metadata tarball. */
async function fixtures(
  dir: string,
  seed: string,
): Promise<{ disk: FixtureFile; meta: FixtureFile }> {
  const [disk, meta] = await Promise.all([
    makeQcow2(dir, { seed }),
    makeIncusMetadata(dir, {
      architecture: 'amd64',
      os: 'debian',
      release: 'bookworm',
      variant: 'default',
      type: 'virtual-machine',
    }),
  ]);
  return { disk, meta };
}

/**
 * Short sweeps and backoffs, so recovery happens within a second or two. Leases keep their
 * default except where a takeover is the point: a lease of a second or so could lapse on a busy
 * machine while its step runs, and the extra attempt would change the counts asserted below.
 */
const FAST = {
  IMGSRV_PUBLISH_SWEEP_INTERVAL: '300ms',
  IMGSRV_PUBLISH_BACKOFF_BASE: '100ms',
  IMGSRV_PUBLISH_BACKOFF_CAP: '400ms',
};

const logged = (app: TestApp, ...parts: string[]) =>
  app.logs.lines.some((line) => parts.every((p) => line.includes(p)));

let dir: string;
beforeAll(async () => {
  dir = await makeFixtureDir();
});
afterAll(() => removeFixtureDir(dir));

describe('publishing when Redis loses every wake-up', () => {
  let redis: DedicatedRedis;
  let apiApp: TestApp;
  let worker: TestApp | undefined;

  beforeAll(async () => {
    // Our own redis-server: FLUSHALL on the machine's Redis would hit other test files.
    redis = await startDedicatedRedis();
    apiApp = await startTestApp({
      env: { ...FAST, IMGSRV_REDIS_URL: redis.url, IMGSRV_ROLES: 'api' },
    });
  });
  afterAll(async () => {
    await worker?.close();
    await apiApp?.close();
    await redis?.stop();
  });

  it('finds the job again in PostgreSQL after FLUSHALL right after the publish request', async () => {
    const w = (await issueIdentity(apiApp, 'content-writer')).headers;
    const { disk, meta } = await fixtures(dir, 'redis-flush');
    await composeDraft(apiApp, w, 'flushed', '20261123', [{ root: disk, metadata: meta }]);
    const accepted = await api(apiApp, 'POST', publishPath('flushed', '20261123'), w);
    expect(accepted.status).toBe(202);
    expect(accepted.body.state).toBe('queued');

    // The API process enqueued the wake-up; no worker runs yet. Then Redis loses everything.
    const prefix = apiApp.config.redis.prefix;
    expect(await redis.cli('EXISTS', `${prefix}:publish:${accepted.body.id}_now`)).toBe('1');
    expect(await redis.cli('FLUSHALL')).toBe('OK');
    expect(await redis.cli('DBSIZE')).toBe('0');

    // A worker process on the same database, Redis prefix and blob store: only the sweeper,
    // reading PostgreSQL, can tell it about the job.
    worker = await startTestApp({
      database: apiApp.database,
      env: {
        ...FAST,
        IMGSRV_REDIS_URL: redis.url,
        IMGSRV_REDIS_PREFIX: prefix,
        IMGSRV_DATA_DIR: apiApp.dataDir,
        IMGSRV_ROLES: 'worker',
      },
    });
    const job = await waitForJob(apiApp, w, accepted.body.id, ['succeeded', 'failed']);
    expect(job.state).toBe('succeeded');
    expect(job.steps.map((s) => [s.state, s.attempt_count])).toEqual([
      ['succeeded', 1],
      ['succeeded', 1],
      ['succeeded', 1],
    ]);
    expect(logged(worker, 'swept publish steps')).toBe(true);
    expect(await streamsRowsOf(apiApp.database.url, job.version_id)).toHaveLength(1);
  });
});

describe('publishing while Redis is down', () => {
  let redis: DedicatedRedis;
  let redisProxy: TcpProxy;
  let app: TestApp;

  beforeAll(async () => {
    redis = await startDedicatedRedis();
    redisProxy = new TcpProxy('127.0.0.1', redis.port);
    await redisProxy.start();
    app = await startTestApp({
      env: { ...FAST, IMGSRV_REDIS_URL: `redis://127.0.0.1:${redisProxy.address.port}` },
    });
  });
  afterAll(async () => {
    await app?.close();
    await redisProxy?.stop();
    await redis?.stop();
  });

  it('still answers the publish request, and publishes once Redis is back', async () => {
    const w = (await issueIdentity(app, 'content-writer')).headers;
    const { disk, meta } = await fixtures(dir, 'redis-down');
    await composeDraft(app, w, 'unwoken', '20261123', [{ root: disk, metadata: meta }]);
    await redisProxy.stop();
    let accepted;
    try {
      // The job is committed in PostgreSQL; the wake-up cannot be sent and must not hold the
      // request (BullMQ would wait for Redis forever).
      accepted = await api(app, 'POST', publishPath('unwoken', '20261123'), w);
    } finally {
      await redisProxy.start();
    }
    expect(accepted.status).toBe(202);
    expect(logged(app, accepted.body.id, 'could not enqueue a publish wake-up')).toBe(true);
    const job = await waitForJob(app, w, accepted.body.id, ['succeeded', 'failed']);
    expect(job.state).toBe('succeeded');
    expect(await streamsRowsOf(app.database.url, job.version_id)).toHaveLength(1);
  });
});

describe('publishing when PostgreSQL goes away during a step', () => {
  const pgProxy = new TcpProxy('127.0.0.1', 5432);
  let database: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    await pgProxy.start();
    database = await createTestDatabase();
    const proxied = new URL(database.url);
    proxied.host = `${pgProxy.address.host}:${pgProxy.address.port}`;
    app = await startTestApp({
      database: { ...database, url: proxied.toString() },
      env: { ...FAST, IMGSRV_PUBLISH_LEASE: '3s' },
    });
  });
  afterAll(async () => {
    await app?.close();
    await pgProxy.stop();
    await database?.drop();
  });

  it('retries the step automatically once PostgreSQL is back, and succeeds', async () => {
    const w = (await issueIdentity(app, 'content-writer')).headers;
    const { disk, meta } = await fixtures(dir, 'pg-outage');
    await composeDraft(app, w, 'outage', '20261123', [{ root: disk, metadata: meta }]);

    // Hold incus_index in the middle of its fenced write (the test's own connection, not
    // through the proxy), then take PostgreSQL away from the app.
    const lock = await holdTableLock(database.url, 'streams_item');
    let jobId: string;
    try {
      const accepted = await api(app, 'POST', publishPath('outage', '20261123'), w);
      expect(accepted.status).toBe(202);
      jobId = accepted.body.id;
      await waitForLockWaiter(database.url, database.name, 'streams_item');
      await pgProxy.stop();
      // The attempt ends: its write and the record of its failure both fail.
      await eventually('the interrupted attempt to give up', async () =>
        logged(app, jobId, 'could not record the step failure') ? true : undefined,
      );
    } finally {
      await pgProxy.start();
      await lock.release();
    }

    const job = await waitForJob(app, w, jobId, ['succeeded', 'failed']);
    expect(job.state).toBe('succeeded');
    expect(stepOf(job, 'validate_catalog').attempt_count).toBe(1);
    expect(stepOf(job, 'incus_index').attempt_count).toBeGreaterThanOrEqual(2);
    expect(stepOf(job, 'finalize_publish').attempt_count).toBe(1);
    expect(await streamsRowsOf(database.url, job.version_id)).toHaveLength(1);
    expect(logged(app, jobId, 'took over an expired step lease')).toBe(true);
    expect(await metric(app, 'imgsrv_publish_lease_takeovers_total')).toBeGreaterThanOrEqual(1);
    expect(
      (await api(app, 'GET', '/v1/images/outage/versions/20261123', w)).body.version.state,
    ).toBe('published');
  });
});

describe('publishing when the object store is down longer than the retry budget', () => {
  let s3: RunningS3rver;
  let s3Proxy: TcpProxy;
  let app: TestApp;

  beforeAll(async () => {
    s3 = await startS3rver();
    const bucket = `publish-${randomBytes(4).toString('hex')}`;
    await s3.createBucket(bucket);
    s3Proxy = new TcpProxy('127.0.0.1', Number(new URL(s3.endpoint).port));
    await s3Proxy.start();
    app = await startTestApp({
      env: {
        ...FAST,
        IMGSRV_PUBLISH_MAX_ATTEMPTS: '2',
        IMGSRV_BLOB_STORE: 's3',
        IMGSRV_S3_ENDPOINT: `http://${s3Proxy.address.host}:${s3Proxy.address.port}`,
        IMGSRV_S3_BUCKET: bucket,
        IMGSRV_S3_ACCESS_KEY_ID: s3.accessKeyId,
        IMGSRV_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        IMGSRV_S3_FORCE_PATH_STYLE: 'true',
      },
    });
  });
  afterAll(async () => {
    await app?.close();
    await s3Proxy?.stop();
    await s3?.close();
  });

  it('fails the job after the automatic attempts, then retry re-runs only from incus_index', async () => {
    const w = (await issueIdentity(app, 'content-writer')).headers;
    const { disk, meta } = await fixtures(dir, 's3-outage');
    await composeDraft(app, w, 'stored', '20261123', [{ root: disk, metadata: meta }]);

    await s3Proxy.stop();
    let failed;
    try {
      const accepted = await api(app, 'POST', publishPath('stored', '20261123'), w);
      expect(accepted.status).toBe(202);
      failed = await waitForJob(app, w, accepted.body.id, ['failed', 'succeeded']);
    } finally {
      await s3Proxy.start();
    }
    expect(failed.state).toBe('failed');
    expect(failed.steps.map((s) => [s.name, s.state, s.attempt_count])).toEqual([
      ['validate_catalog', 'succeeded', 1],
      ['incus_index', 'failed', 2],
      ['finalize_publish', 'queued', 0],
    ]);
    expect(failed.failure_message).toMatch(/^incus_index: ./);
    expect(stepOf(failed, 'incus_index').failure_message).toBeTruthy();
    expect(logged(app, failed.id, 'publish step failed; retrying')).toBe(true);
    expect(await metric(app, 'imgsrv_publish_step_retries_total{step="incus_index"}')).toBe(1);
    expect(
      await metric(app, 'imgsrv_publish_step_runs_total{step="incus_index",outcome="failed"}'),
    ).toBe(1);
    expect(
      (await api(app, 'GET', '/v1/images/stored/versions/20261123', w)).body.version.state,
    ).toBe('publishing');
    const listed = await api(app, 'GET', '/v1/publish-jobs?state=failed', w);
    expect(listed.body.publish_jobs.map((j: { id: string }) => j.id)).toEqual([failed.id]);

    const retried = await api(app, 'POST', `/v1/publish-jobs/${failed.id}/retry`, w);
    expect(retried.status).toBe(202);
    expect(retried.body.id).toBe(failed.id);
    expect(retried.body.failure_message).toBeNull();
    expect(stepOf(retried.body, 'validate_catalog').state).toBe('succeeded');

    const job = await waitForJob(app, w, failed.id, ['succeeded', 'failed']);
    expect(job.state).toBe('succeeded');
    expect(job.steps.map((s) => [s.name, s.state, s.attempt_count])).toEqual([
      // Not re-run: the same attempt, the same times.
      ['validate_catalog', 'succeeded', 1],
      ['incus_index', 'succeeded', 3],
      ['finalize_publish', 'succeeded', 1],
    ]);
    expect(stepOf(job, 'validate_catalog').finished_at).toBe(
      stepOf(failed, 'validate_catalog').finished_at,
    );
    expect(stepOf(job, 'incus_index').failure_message).toBeNull();
    expect(await streamsRowsOf(app.database.url, job.version_id)).toHaveLength(1);
    expect((await api(app, 'POST', `/v1/publish-jobs/${job.id}/retry`, w)).status).toBe(409);
  });
});
