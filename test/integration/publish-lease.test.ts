import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { composeDraft, publishPath, streamsRowsOf } from '../support/publish';
import { holdTableLock, sql, waitForLockWaiter, withDb } from '../support/sql';
import { metric } from '../support/processes';
import { eventually } from '../support/waiting';
import { startTestApp, type TestApp } from '../support/test-app';
import { PublishJobEntity, PublishStepEntity } from '../../src/publish/publish-job.entity';
import { PublishJobRepository, type Claim } from '../../src/publish/publish-job.repository';
import { PUBLISH_QUEUE } from '../../src/publish/publish.queue';
import { StepRunner } from '../../src/publish/step-runner.service';

/**
 * Leases and fencing, driven through the real repository and StepRunner of an app that runs no
 * workers of its own (IMGSRV_ROLES=api), so the test decides who claims what and when.
 */
describe('publish step leases', () => {
  // Renewed every LEASE_MS/3: long enough that a busy machine's late timers do not let a live
  // runner's lease lapse (the heartbeat test below would see runner-b take over).
  const LEASE_MS = 4000;
  let app: TestApp;
  let jobs: PublishJobRepository;
  let runner: StepRunner;
  let dataSource: DataSource;
  let w: Record<string, string>;
  let dir: string;
  let meta: FixtureFile;
  let versionSeq = 0;

  beforeAll(async () => {
    dir = await makeFixtureDir();
    [app, meta] = await Promise.all([
      startTestApp({ env: { IMGSRV_ROLES: 'api', IMGSRV_PUBLISH_LEASE: `${LEASE_MS}ms` } }),
      makeIncusMetadata(dir, {
        architecture: 'amd64',
        os: 'debian',
        release: 'bookworm',
        variant: 'default',
        type: 'virtual-machine',
      }),
    ]);
    const nest = app.server.application.app;
    jobs = nest.get(PublishJobRepository, { strict: false });
    runner = nest.get(StepRunner, { strict: false });
    dataSource = nest.get(DataSource);
    w = (await issueIdentity(app, 'content-writer')).headers;
  });
  afterAll(async () => {
    await app?.close();
    await removeFixtureDir(dir);
  });

  /** A new draft with one eligible artifact, published: its job is queued and nobody runs it. */
  async function queuedJob(): Promise<{ jobId: string; versionId: string; version: string }> {
    const version = `v${++versionSeq}`;
    const disk = await makeQcow2(dir, { seed: `lease-${version}` });
    await composeDraft(app, w, 'leased', version, [{ root: disk, metadata: meta }]);
    const res = await api(app, 'POST', publishPath('leased', version), w);
    expect(res.status).toBe(202);
    expect(res.body.state).toBe('queued');
    return { jobId: res.body.id, versionId: res.body.version_id, version };
  }

  const stepRow = async (jobId: string, name: string) =>
    (
      await sql(
        app.database.url,
        `SELECT state, lease_owner, lease_attempt, attempt_count FROM publish_step
          WHERE job_id = $1 AND name = $2`,
        [jobId, name],
      )
    )[0];

  /** Sets columns of one step's row (`assignments`: SQL, as after SET). */
  const setStep = (jobId: string, name: string, assignments: string) =>
    sql(
      app.database.url,
      `UPDATE publish_step SET ${assignments} WHERE job_id = $1 AND name = $2`,
      [jobId, name],
    );

  /** Makes a lease expire now, as if its owner had stopped renewing it. */
  const expire = (jobId: string, name: string) =>
    sql(
      app.database.url,
      `UPDATE publish_step SET lease_expires_at = now() - interval '1 second'
        WHERE job_id = $1 AND name = $2 AND state = 'running'`,
      [jobId, name],
    );

  it('gives a step to exactly one of many concurrent claimers, and to another only after the lease expired', async () => {
    const { jobId } = await queuedJob();
    const owners = Array.from({ length: 8 }, (_, i) => `owner-${i}`);
    const claims = await Promise.all(owners.map((o) => jobs.claimNext(jobId, o, 60_000)));
    const won = claims.filter((c): c is Claim => c !== null);
    expect(won).toHaveLength(1);
    const first = won[0];
    expect(first).toMatchObject({
      jobId,
      step: 'validate_catalog',
      attempt: 1,
      takeover: false,
    });
    const other = owners.find((o) => o !== first.owner) as string;

    // While the lease is live nobody else gets the step, nor the step after it.
    for (const o of owners) expect(await jobs.claimNext(jobId, o, 60_000)).toBeNull();
    expect(await jobs.renew(first, 60_000)).toBe(true);
    expect(await stepRow(jobId, 'validate_catalog')).toMatchObject({
      state: 'running',
      lease_owner: first.owner,
      lease_attempt: 1,
    });

    // The lease expires (its owner stopped renewing): another owner takes the step over.
    await expire(jobId, 'validate_catalog');
    const second = await jobs.claimNext(jobId, other, 60_000);
    expect(second).toMatchObject({
      jobId,
      step: 'validate_catalog',
      owner: other,
      attempt: 2,
      takeover: true,
    });

    // The first owner is fenced off: it can neither renew nor write its result.
    expect(await jobs.renew(first, 60_000)).toBe(false);
    expect(await dataSource.transaction((m) => jobs.holdsLease(m, first))).toBe(false);
    expect(await dataSource.transaction((m) => jobs.holdsLease(m, second as Claim))).toBe(true);

    await dataSource.transaction(async (m) => {
      expect(await jobs.holdsLease(m, second as Claim)).toBe(true);
      await jobs.markSucceeded(m, second as Claim, { by: other });
    });
    expect(await stepRow(jobId, 'validate_catalog')).toMatchObject({
      state: 'succeeded',
      lease_owner: null,
      attempt_count: 2,
    });
    // Now the next step is claimable, once.
    const next = await Promise.all(owners.map((o) => jobs.claimNext(jobId, o, 60_000)));
    expect(next.filter((c) => c !== null).map((c) => (c as Claim).step)).toEqual(['incus_index']);
  });

  it("claims a job's first step not yet succeeded, and only when that step is runnable", async () => {
    const { jobId } = await queuedJob();
    const set = (name: string, assignments: string) => setStep(jobId, name, assignments);
    const done = "state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL";
    const claim = async () => (await jobs.claimNext(jobId, 'owner', 60_000))?.step ?? null;

    await set('validate_catalog', done);
    // A retry not due yet: nothing, and not the step after it either.
    await set('incus_index', "next_attempt_at = now() + interval '1 hour'");
    expect(await claim()).toBeNull();
    // A failed step stops the job there.
    await set('incus_index', "state = 'failed', next_attempt_at = NULL");
    expect(await claim()).toBeNull();
    // Due again: the second step, not the third.
    await set('incus_index', "state = 'queued', next_attempt_at = now() - interval '1 second'");
    expect(await claim()).toBe('incus_index');
    // Running under a live lease: nothing; once it expired, the same step again.
    expect(await claim()).toBeNull();
    await expire(jobId, 'incus_index');
    expect(await jobs.claimNext(jobId, 'other', 60_000)).toMatchObject({
      step: 'incus_index',
      takeover: true,
    });
    await set('incus_index', done);
    expect(await claim()).toBe('finalize_publish');
    await set('finalize_publish', done);
    expect(await claim()).toBeNull();
  });

  it('answers a claim with null when nothing is runnable', async () => {
    const { jobId } = await queuedJob();
    const claim = (await jobs.claimNext(jobId, 'only', 60_000)) as Claim;
    expect(claim.step).toBe('validate_catalog');
    expect(await jobs.claimNext(jobId, 'only', 60_000)).toBeNull();
    expect(await jobs.claimNext('00000000-0000-4000-8000-000000000000', 'x', 1000)).toBeNull();
  });

  it('never waits on a job row held by a cancel, and lets the cancel finish', async () => {
    const { jobId, version } = await queuedJob();
    // What cancel does first: lock the job row. A claim running meanwhile must not take the
    // step and then wait for the job row (a deadlock with the cancel's step update).
    await withDb(app.database.url, async (db) => {
      await db.query('BEGIN');
      await db.query('SELECT 1 FROM publish_job WHERE id = $1 FOR UPDATE', [jobId]);
      const claim = jobs.claimNext(jobId, 'racer', 60_000);
      const outcome = await Promise.race([
        claim.then((c) => ({ claimed: c })),
        waitForLockWaiter(app.database.url, app.database.name).then(
          () => 'blocked on the job row' as const,
        ),
      ]);
      try {
        await db.query(
          `UPDATE publish_step SET state = 'skipped' WHERE job_id = $1 AND state IN ('queued', 'running')`,
          [jobId],
        );
        await db.query('ROLLBACK');
      } finally {
        await claim.catch(() => undefined);
      }
      expect(outcome).toEqual({ claimed: null });
    });
    // The real cancel of a job nobody started: version back to draft, every step skipped.
    const cancelled = await api(app, 'POST', `/v1/publish-jobs/${jobId}/cancel`, w);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.steps.map((s: { state: string }) => s.state)).toEqual([
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(
      (await api(app, 'GET', `/v1/images/leased/versions/${version}`, w)).body.version.state,
    ).toBe('draft');
    expect(await jobs.claimNext(jobId, 'late', 60_000)).toBeNull();
  });

  it('runs a deliberately slow step on one runner only: the heartbeat keeps the lease', async () => {
    const { jobId, versionId } = await queuedJob();
    expect(await runner.runNext(jobId, 'runner-a')).toBe(true); // validate_catalog
    // incus_index reads the blob rows first; while the test holds cas_blob, it is stuck there,
    // long after its first lease would have expired without heartbeats.
    const lock = await holdTableLock(app.database.url, 'cas_blob', 'ACCESS EXCLUSIVE');
    let slow: Promise<boolean> | undefined;
    try {
      slow = runner.runNext(jobId, 'runner-a');
      await waitForLockWaiter(app.database.url, app.database.name, 'cas_blob');
      const until = Date.now() + 1.5 * LEASE_MS;
      let tries = 0;
      while (Date.now() < until) {
        expect(await runner.runNext(jobId, 'runner-b')).toBe(false);
        tries++;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(tries).toBeGreaterThan(5);
      expect(await stepRow(jobId, 'incus_index')).toMatchObject({
        state: 'running',
        lease_owner: 'runner-a',
        lease_attempt: 1,
      });
    } finally {
      await lock.release();
    }
    expect(await slow).toBe(true);
    expect(await stepRow(jobId, 'incus_index')).toMatchObject({
      state: 'succeeded',
      attempt_count: 1,
    });
    expect(await runner.runNext(jobId, 'runner-b')).toBe(true); // finalize_publish
    expect((await api(app, 'GET', `/v1/publish-jobs/${jobId}`, w)).body.state).toBe('succeeded');
    expect(await streamsRowsOf(app.database.url, versionId)).toHaveLength(1);
  });

  it('discards the work of a runner that lost its lease while it was slow', async () => {
    const { jobId, versionId } = await queuedJob();
    expect(await runner.runNext(jobId, 'runner-a')).toBe(true); // validate_catalog
    const lock = await holdTableLock(app.database.url, 'cas_blob', 'ACCESS EXCLUSIVE');
    let slow: Promise<boolean> | undefined;
    try {
      slow = runner.runNext(jobId, 'runner-a');
      await waitForLockWaiter(app.database.url, app.database.name, 'cas_blob');
      // Runner A is stuck; its lease expires (as if its heartbeats stopped reaching PostgreSQL)
      // and B takes the step over. A renews every LEASE_MS/3, so expire and claim until B wins.
      const stolen = await eventually('a takeover by runner-b', async () => {
        await expire(jobId, 'incus_index');
        return (await jobs.claimNext(jobId, 'runner-b', 60_000)) ?? undefined;
      });
      expect(stolen).toMatchObject({ step: 'incus_index', attempt: 2, takeover: true });
    } finally {
      await lock.release();
    }
    // A finishes reading and hashing, but its fenced write is refused: no rows, B keeps the step.
    expect(await slow).toBe(true);
    expect(
      app.logs.lines.some(
        (l) => l.includes(jobId) && l.includes('lost the step lease; discarding this attempt'),
      ),
    ).toBe(true);
    expect(await streamsRowsOf(app.database.url, versionId)).toEqual([]);
    expect(await stepRow(jobId, 'incus_index')).toMatchObject({
      state: 'running',
      lease_owner: 'runner-b',
      lease_attempt: 2,
    });

    // B never finishes (it was a bare claim); once its lease expires a runner takes over and
    // completes the job with one set of rows.
    await expire(jobId, 'incus_index');
    expect(await runner.runNext(jobId, 'runner-c')).toBe(true);
    expect(await stepRow(jobId, 'incus_index')).toMatchObject({
      state: 'succeeded',
      attempt_count: 3,
    });
    expect(await runner.runNext(jobId, 'runner-c')).toBe(true);
    const job = (await api(app, 'GET', `/v1/publish-jobs/${jobId}`, w)).body;
    expect(job.state).toBe('succeeded');
    expect(await streamsRowsOf(app.database.url, versionId)).toHaveLength(1);
  });

  it('fails a step whose attempts never finish once the automatic budget is spent, until retried', async () => {
    const { jobId } = await queuedJob();
    const max = app.config.publish.maxAttempts;
    // Every attempt's worker dies without a word: the lease just expires, again and again.
    for (let attempt = 1; attempt <= max; attempt++) {
      expect(await jobs.claimNext(jobId, `doomed-${attempt}`, 60_000)).toMatchObject({
        step: 'validate_catalog',
        attempt,
      });
      await expire(jobId, 'validate_catalog');
    }
    expect(await runner.runNext(jobId, 'runner-z')).toBe(true);
    const failed = (await api(app, 'GET', `/v1/publish-jobs/${jobId}`, w)).body;
    expect(failed.state).toBe('failed');
    expect(failed.failure_message).toContain(`gave up after ${max} attempts`);
    expect(failed.steps[0]).toMatchObject({ state: 'failed', attempt_count: max + 1 });

    // A manual retry gives the step a fresh budget, and this time it runs.
    expect((await api(app, 'POST', `/v1/publish-jobs/${jobId}/retry`, w)).status).toBe(202);
    expect(await runner.runNext(jobId, 'runner-z')).toBe(true);
    expect(await stepRow(jobId, 'validate_catalog')).toMatchObject({ state: 'succeeded' });
  });

  it("answers a job's view with every column as the tables hold it, in the order asked", async () => {
    const { jobId: first } = await queuedJob();
    const { jobId: second, version } = await queuedJob();
    // The first job: one step done with a result, the next running under a lease with a retry time.
    await setStep(
      first,
      'validate_catalog',
      `state = 'succeeded', result = '{"blobs_checked": 2, "nested": {"a": [1]}}',
       started_at = now() - interval '2 seconds', finished_at = now() - interval '1 second',
       attempt_count = 1`,
    );
    expect(await jobs.claimNext(first, 'view-owner', 60_000)).toMatchObject({
      step: 'incus_index',
    });
    await setStep(
      first,
      'incus_index',
      `next_attempt_at = now() + interval '1 hour', failure_message = 'once'`,
    );
    const missing = '00000000-0000-4000-8000-000000000000';
    const views = await jobs.viewsOf([second, missing, first]);
    expect(views.map((v) => v.job.id)).toEqual([second, first]);
    expect(views[0]).toMatchObject({ imageName: 'leased', version });

    // What TypeORM reads of the same rows, entity for entity.
    for (const view of views) {
      const job = await dataSource
        .getRepository(PublishJobEntity)
        .findOneByOrFail({ id: view.job.id });
      const steps = await dataSource
        .getRepository(PublishStepEntity)
        .find({ where: { jobId: view.job.id }, order: { sequence: 'ASC' } });
      expect(view.job).toEqual(job);
      expect(view.steps).toEqual(steps);
    }
    expect(views[1].steps.map((s) => s.state)).toEqual(['succeeded', 'running', 'queued']);
    expect(views[1].steps[0].result).toEqual({ blobs_checked: 2, nested: { a: [1] } });
    expect(views[1].steps[1]).toMatchObject({ leaseOwner: 'view-owner', failureMessage: 'once' });
    expect(views[1].steps[1].nextAttemptAt).toBeInstanceOf(Date);
    expect(await jobs.viewsOf([])).toEqual([]);
  });

  it('reports the age of the oldest step under way, leaving out the steps of jobs that are over', async () => {
    const age = (state: string) =>
      metric(app, `imgsrv_publish_oldest_step_age_seconds{state="${state}"}`);
    const { jobId: waiting } = await queuedJob();
    const { jobId: busy } = await queuedJob();
    const HOUR = 3600;
    // A queued step that ran before (a retry keeps its start) three hours ago; a running one two.
    await setStep(waiting, 'validate_catalog', `started_at = now() - interval '3 hours'`);
    expect(await jobs.claimNext(busy, 'age-owner', 60_000)).toMatchObject({
      step: 'validate_catalog',
    });
    await setStep(busy, 'validate_catalog', `started_at = now() - interval '2 hours'`);
    expect(await age('queued')).toBeGreaterThanOrEqual(3 * HOUR);
    expect(await age('queued')).toBeLessThan(4 * HOUR);
    expect(await age('running')).toBeGreaterThanOrEqual(2 * HOUR);
    expect(await age('running')).toBeLessThan(3 * HOUR);

    // Once its job is over, a step left queued is no longer waiting for anything.
    await sql(
      app.database.url,
      `UPDATE publish_job SET state = 'failed', finished_at = now() WHERE id = $1`,
      [waiting],
    );
    expect(await age('queued')).toBeLessThan(3 * HOUR);
    await setStep(
      busy,
      'validate_catalog',
      `state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL`,
    );
    expect(await age('running')).toBeLessThan(2 * HOUR);
  });

  it('runs the steps of a job one after another in one worker, each claimed, until none is runnable', async () => {
    const { jobId } = await queuedJob();
    // Another runner holds the first step: nothing for this one.
    expect(await jobs.claimNext(jobId, 'holder', 60_000)).toMatchObject({
      step: 'validate_catalog',
    });
    expect(await runner.runSteps(jobId, 'runner-s')).toBe(0);
    await expire(jobId, 'validate_catalog');
    expect(await runner.runSteps(jobId, 'runner-s')).toBe(3);
    const job = (await api(app, 'GET', `/v1/publish-jobs/${jobId}`, w)).body;
    expect(job.state).toBe('succeeded');
    expect(job.steps.map((s: { state: string }) => s.state)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    expect(await runner.runSteps(jobId, 'runner-s')).toBe(0);
  });

  it('leaves the next step to another worker once told to stop, waking one for it', async () => {
    const { jobId } = await queuedJob();
    expect(await runner.runSteps(jobId, 'runner-t', () => false)).toBe(1);
    expect(await stepRow(jobId, 'validate_catalog')).toMatchObject({ state: 'succeeded' });
    expect(await stepRow(jobId, 'incus_index')).toMatchObject({ state: 'queued' });
    const queue = app.server.application.app.get<Queue>(getQueueToken(PUBLISH_QUEUE), {
      strict: false,
    });
    expect(await queue.getJob(`${jobId}_after_validate_catalog_1`)).toMatchObject({
      data: { jobId },
    });
  });
});
