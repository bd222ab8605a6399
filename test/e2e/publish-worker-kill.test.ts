import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import {
  combinedFingerprint,
  composeDraft,
  publishPath,
  stepOf,
  streamsRowsOf,
  waitForJob,
} from '../support/publish';
import { holdTableLock, sql } from '../support/sql';
import { eventually } from '../support/waiting';
import { startTestApp, testEnv, type TestApp } from '../support/test-app';

const MAIN = resolve(__dirname, '../../dist/main.js');
const MIB = 1024 * 1024;

const FAST = {
  // Long enough that the live worker's heartbeats keep it on a busy machine (a lapse would add an
  // attempt), short enough that the dead worker's lease expires soon.
  IMGSRV_PUBLISH_LEASE: '5s',
  IMGSRV_PUBLISH_SWEEP_INTERVAL: '300ms',
  IMGSRV_PUBLISH_BACKOFF_BASE: '100ms',
};

interface WorkerProcess {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

/**
 * Failover between worker processes: a worker (`node dist/main.js serve`, IMGSRV_ROLES=worker,
 * a separate process on the same database, Redis prefix and blob store) is killed with SIGKILL in
 * the middle of incus_index on a large blob; another worker process takes the step over once
 * the lease expired, and the job succeeds with one set of projection rows.
 */
describe('a publish worker killed in the middle of incus_index', () => {
  let app: TestApp;
  let dir: string;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(MAIN))
      throw new Error('dist/main.js is missing: npm test builds it first (npm run build)');
    dir = await makeFixtureDir();
    app = await startTestApp({ env: { ...FAST, IMGSRV_ROLES: 'api' } });
  });
  afterAll(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
      await w.exited;
    }
    await app?.close();
    await removeFixtureDir(dir);
  });

  function startWorker(): WorkerProcess {
    const env = testEnv({
      databaseUrl: app.database.url,
      dataDir: app.dataDir,
      env: {
        ...FAST,
        IMGSRV_ROLES: 'worker',
        IMGSRV_REDIS_PREFIX: app.config.redis.prefix,
        IMGSRV_BOOTSTRAP_TOKEN: app.bootstrapToken,
        IMGSRV_LOG_LEVEL: 'debug',
      },
    });
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const worker = { child, output: () => out, exited };
    workers.push(worker);
    return worker;
  }

  const incusIndex = async (jobId: string) =>
    (
      await sql(
        app.database.url,
        `SELECT state, lease_owner, lease_expires_at, attempt_count FROM publish_step
          WHERE job_id = $1 AND name = 'incus_index'`,
        [jobId],
      )
    )[0];

  it('is replaced by another worker process once its lease expired', async () => {
    // Should the hashing win the race against the kill, the step still cannot commit: its write
    // waits for this lock, so the kill always lands inside incus_index.
    const lock = await holdTableLock(app.database.url, 'streams_item');
    let jobId: string;
    let versionId: string;
    let disk!: FixtureFile;
    let meta!: FixtureFile;
    const w = (await issueIdentity(app, 'content-writer')).headers;
    try {
      // The first worker boots while the test builds and uploads the fixtures.
      const first = startWorker();
      [disk, meta] = await Promise.all([
        // A large, incompressible disk: hashing it takes a while.
        makeQcow2(dir, { seed: 'sigkill', virtualSizeMiB: 512, dataBytes: 96 * MIB }),
        makeIncusMetadata(dir, {
          architecture: 'amd64',
          os: 'debian',
          release: 'bookworm',
          variant: 'default',
          type: 'virtual-machine',
        }),
      ]);
      expect(disk.size).toBeGreaterThan(190 * MIB);
      await composeDraft(app, w, 'killed', '20261123', [{ root: disk, metadata: meta }]);
      const accepted = await api(app, 'POST', publishPath('killed', '20261123'), w);
      expect(accepted.status).toBe(202);
      jobId = accepted.body.id;
      versionId = accepted.body.version_id;

      // The first worker runs incus_index and has renewed its lease once (still hashing), or
      // finished hashing and waits for its write: either way well inside the step when killed.
      const running = await eventually(
        'the first worker to run incus_index',
        async () => {
          const step = await incusIndex(jobId);
          return step.state === 'running' &&
            String(step.lease_owner).includes(`:${first.child.pid}:`)
            ? step
            : undefined;
        },
        { attempts: 1500, intervalMs: 10 },
      );
      await eventually('a heartbeat or the write of the first worker', async () => {
        const step = await incusIndex(jobId);
        if (step.lease_expires_at > running.lease_expires_at) return true;
        const waiting = await sql(
          app.database.url,
          `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
          [app.database.name],
        );
        return waiting.length > 0 ? true : undefined;
      });
      first.child.kill('SIGKILL');
      await first.exited;
      expect(first.child.signalCode).toBe('SIGKILL');
      // Nothing of its work was kept: the step is still leased to the dead worker.
      expect(await incusIndex(jobId)).toMatchObject({
        state: 'running',
        lease_owner: running.lease_owner,
        attempt_count: 1,
      });
    } finally {
      await lock.release();
    }
    expect(await streamsRowsOf(app.database.url, versionId)).toEqual([]);

    const second = startWorker();
    const job = await waitForJob(app, w, jobId, ['succeeded', 'failed']);
    expect(job.state).toBe('succeeded');
    expect(stepOf(job, 'validate_catalog').attempt_count).toBe(1);
    expect(stepOf(job, 'incus_index').attempt_count).toBe(2);
    expect(stepOf(job, 'finalize_publish').attempt_count).toBe(1);
    expect(second.output()).toContain('took over an expired step lease');

    const fingerprint = await combinedFingerprint(meta.path, disk.path);
    const rows = await streamsRowsOf(app.database.url, job.version_id);
    expect(rows.map((r) => r.combined_sha256)).toEqual([fingerprint]);
    expect(stepOf(job, 'incus_index').result?.projected).toEqual([
      expect.objectContaining({ fingerprint }),
    ]);
  }, 240_000); // a 190 MiB fixture built, uploaded and hashed twice: minutes on a busy 2-core machine
});
