import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { issueIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';
import { holdTableLock, sql, waitForLockWaiter } from '../support/sql';
import { startTestApp, testEnv, type TestApp } from '../support/test-app';
import { eventually } from '../support/waiting';

const MAIN = resolve(__dirname, '../../dist/main.js');
const VERSIONS = 250;
const name = (i: number) => `v${String(i).padStart(3, '0')}`;

/**
 * A worker killed (SIGKILL) in the middle of applying a retention policy: the batch it was
 * withdrawing rolls back whole, the batches before it stay, and the next worker withdraws the
 * rest, each version once.
 */
describe('a worker killed while applying retention', () => {
  let app: TestApp;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(MAIN))
      throw new Error('dist/main.js is missing: npm test builds it first (npm run build)');
    app = await startTestApp({ env: { IMGSRV_ROLES: 'api' } });
    const w = (await issueIdentity(app, 'content-writer')).headers;
    await api(app, 'POST', '/v1/images', w, { name: 'daily' });
    for (let i = 0; i < VERSIONS; i++) {
      await api(app, 'POST', '/v1/images/daily/versions', w, { version: name(i) });
      await markPublished(app, 'daily', name(i));
    }
    expect(
      (await api(app, 'PUT', '/v1/images/daily/retention', w, { keep_latest: 1 })).status,
    ).toBe(200);
  }, 180_000);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await app?.close();
  });

  function startWorker(extra: Record<string, string> = {}): {
    child: ChildProcess;
    exited: Promise<void>;
  } {
    const env = testEnv({
      databaseUrl: app.database.url,
      dataDir: app.dataDir,
      env: {
        IMGSRV_ROLES: 'worker',
        IMGSRV_REDIS_PREFIX: app.config.redis.prefix,
        IMGSRV_BOOTSTRAP_TOKEN: app.bootstrapToken,
        IMGSRV_RETENTION_INTERVAL: '200ms',
        // Withdrawals become due for purge at once; only the purge test's workers purge.
        IMGSRV_WITHDRAW_GRACE: '1ms',
        IMGSRV_PURGE_INTERVAL: '0s',
        // The versions here are made published without a publish job (markPublished), so they
        // have no provenance record; a worker with records on would record them as it starts,
        // and its row locks would blur which transaction the test sees waiting.
        IMGSRV_PROVENANCE_RECORDS: 'false',
        ...extra,
      },
    });
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: 'ignore',
    });
    children.push(child);
    return { child, exited: new Promise<void>((r) => child.once('exit', () => r())) };
  }

  const counts = async () => {
    const rows = await sql<{ state: string; n: number }>(
      app.database.url,
      `SELECT v.state, count(*)::int AS n FROM image_version v JOIN image i ON i.id = v.image_id
        WHERE i.name = 'daily' GROUP BY v.state`,
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  };

  it('keeps the committed batches, rolls back the one it was in, and the next worker finishes', async () => {
    // Hold the 151st oldest version: the second batch (versions 100-199) waits on it, with 50
    // withdrawals of its own not yet committed, while the first batch has committed.
    const holder = new Client({ connectionString: app.database.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(
      `SELECT v.id FROM image_version v JOIN image i ON i.id = v.image_id
        WHERE i.name = 'daily' AND v.version = $1 FOR UPDATE`,
      [name(150)],
    );
    const first = startWorker();
    try {
      await waitForLockWaiter(app.database.url, app.database.name);
      expect(await counts()).toEqual({ published: VERSIONS - 100, withdrawn: 100 });
      first.child.kill('SIGKILL');
      await first.exited;
      expect(first.child.signalCode).toBe('SIGKILL');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    // Nothing of the killed batch was kept, and no version is half-withdrawn.
    expect(await counts()).toEqual({ published: VERSIONS - 100, withdrawn: 100 });
    const incomplete = await sql(
      app.database.url,
      `SELECT 1 FROM image_version WHERE state = 'withdrawn'
          AND (withdrawn_at IS NULL OR withdrawn_reason IS NULL OR purge_after IS NULL)`,
    );
    expect(incomplete).toEqual([]);

    startWorker();
    await eventually(
      'the next worker to finish the policy',
      async () => {
        const c = await counts();
        return c.withdrawn === VERSIONS - 1 && c.published === 1 ? c : undefined;
      },
      { attempts: 600, intervalMs: 100 },
    );
    const [newest] = await sql<{ version: string }>(
      app.database.url,
      `SELECT version FROM image_version WHERE state = 'published'`,
    );
    expect(newest.version).toBe(name(VERSIONS - 1));
    // Each version was withdrawn once: one audit event each.
    const [audited] = await sql<{ n: number; distinct_targets: number }>(
      app.database.url,
      `SELECT count(*)::int AS n, count(DISTINCT target_id)::int AS distinct_targets
         FROM audit_event WHERE action = 'version.withdraw'`,
    );
    expect(audited).toEqual({ n: VERSIONS - 1, distinct_targets: VERSIONS - 1 });
    const [policy] = await sql<{ applied: boolean }>(
      app.database.url,
      `SELECT applied_at IS NOT NULL AS applied FROM retention_policy`,
    );
    expect(policy.applied).toBe(true);
  }, 240_000);

  it('and one killed in the middle of a purge leaves every version purged or not; the next purges all', async () => {
    const purged = async () =>
      (
        await sql<{ n: number }>(
          app.database.url,
          `SELECT count(*)::int AS n FROM image_version WHERE purged_at IS NOT NULL`,
        )
      )[0].n;
    expect(await purged()).toBe(0);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    // Holds writers of image_version back: the purge's UPDATE waits, inside its statement.
    const lock = await holdTableLock(app.database.url, 'image_version');
    const first = startWorker({ IMGSRV_PURGE_INTERVAL: '200ms', IMGSRV_RETENTION_INTERVAL: '0s' });
    try {
      await waitForLockWaiter(app.database.url, app.database.name, 'image_version');
      first.child.kill('SIGKILL');
      await first.exited;
    } finally {
      await lock.release();
    }
    // The killed worker's backend may still finish the statement it was waiting in (PostgreSQL
    // notices the lost client only when it next talks to it): once no session of the killed
    // worker remains, the purge happened whole or not at all.
    await eventually('the killed worker’s sessions to end', async () => {
      const rows = await sql(
        app.database.url,
        `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
        [app.database.name],
      );
      return rows.length === 0 ? true : undefined;
    });
    expect([0, VERSIONS - 1]).toContain(await purged());
    startWorker({ IMGSRV_PURGE_INTERVAL: '200ms', IMGSRV_RETENTION_INTERVAL: '0s' });
    await eventually(
      'the next worker to purge every withdrawn version',
      async () => ((await purged()) === VERSIONS - 1 ? true : undefined),
      { attempts: 600, intervalMs: 100 },
    );
    const [left] = await sql<{ n: number }>(
      app.database.url,
      `SELECT count(*)::int AS n FROM image_version WHERE state = 'published' AND purged_at IS NULL`,
    );
    expect(left.n).toBe(1);
  }, 240_000);
});
