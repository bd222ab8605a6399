import { randomBytes } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { casKeyOf } from '../../src/cas/digest';
import { authCall, issueIdentity, type IssuedIdentity } from '../support/auth';
import { api } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  makeSquashfs,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { metric } from '../support/processes';
import {
  addArtifact,
  combinedFingerprint,
  composeDraft,
  publishPath,
  stepOf,
  streamsRowsOf,
  waitForJob,
  type JobBody,
} from '../support/publish';
import { holdTableLock, sql, waitForLockWaiter } from '../support/sql';
import { startTestApp, type TestApp } from '../support/test-app';

const STEP_NAMES = ['validate_catalog', 'incus_index', 'finalize_publish'];
const ms = (iso: string | null) => {
  if (iso === null) throw new Error('expected a timestamp');
  return Date.parse(iso);
};

describe('publishing', () => {
  let app: TestApp;
  let writer: IssuedIdentity;
  let w: Record<string, string>;
  let dir: string;
  let disk: FixtureFile;
  let amd64Meta: FixtureFile;
  let arm64Meta: FixtureFile;

  beforeAll(async () => {
    dir = await makeFixtureDir();
    [app, disk, amd64Meta, arm64Meta] = await Promise.all([
      startTestApp({ env: { IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms' } }),
      makeQcow2(dir, { seed: 'publish-happy' }),
      makeIncusMetadata(dir, {
        architecture: 'amd64',
        os: 'debian',
        release: 'bookworm',
        variant: 'default',
        type: 'virtual-machine',
      }),
      makeIncusMetadata(dir, {
        architecture: 'arm64',
        os: 'debian',
        release: 'bookworm',
        variant: 'default',
        type: 'virtual-machine',
      }),
    ]);
    writer = await issueIdentity(app, 'content-writer');
    w = writer.headers;
  });
  afterAll(async () => {
    await app?.close();
    await removeFixtureDir(dir);
  });

  it('publishes a draft through its three steps, idempotently, and projects it once', async () => {
    await composeDraft(app, w, 'debian-12', '20261123', [{ root: disk, metadata: amd64Meta }]);
    const expectedFingerprint = await combinedFingerprint(amd64Meta.path, disk.path);

    // Writes to streams_item wait while the test holds this lock, so incus_index stays in the
    // middle of its fenced write and the job is certainly still publishing below.
    const lock = await holdTableLock(app.database.url, 'streams_item');
    let accepted: { status: number; body: JobBody };
    try {
      accepted = await api(app, 'POST', publishPath('debian-12', '20261123'), w);
      expect(accepted.status).toBe(202);
      expect(accepted.body).toMatchObject({
        image_name: 'debian-12',
        version: '20261123',
        requested_by: writer.principalId,
        finished_at: null,
        failure_message: null,
      });
      expect(['queued', 'running']).toContain(accepted.body.state);
      expect(accepted.body.steps.map((s) => [s.name, s.sequence])).toEqual([
        ['validate_catalog', 1],
        ['incus_index', 2],
        ['finalize_publish', 3],
      ]);
      for (const s of accepted.body.steps)
        expect(['queued', 'running', 'succeeded']).toContain(s.state);
      expect(stepOf(accepted.body, 'finalize_publish').state).toBe('queued');

      await waitForLockWaiter(app.database.url, app.database.name, 'streams_item');
      const midway = await api(app, 'GET', `/v1/publish-jobs/${accepted.body.id}`, w);
      expect(midway.body.state).toBe('running');
      expect(midway.body.steps.map((s: { state: string }) => s.state)).toEqual([
        'succeeded',
        'running',
        'queued',
      ]);
      const version = await api(app, 'GET', '/v1/images/debian-12/versions/20261123', w);
      expect(version.body.version.state).toBe('publishing');

      // Repeating the request while publishing: 202 with the same job, no second job.
      const again = await api(app, 'POST', publishPath('debian-12', '20261123'), w);
      expect(again.status).toBe(202);
      expect(again.body.id).toBe(accepted.body.id);
      const latest = await api(app, 'GET', '/v1/images/debian-12/versions/20261123/publish-job', w);
      expect(latest.status).toBe(200);
      expect(latest.body.id).toBe(accepted.body.id);
    } finally {
      await lock.release();
    }

    const job = await waitForJob(app, w, accepted.body.id, ['succeeded', 'failed']);
    expect(job.state).toBe('succeeded');
    expect(job.failure_message).toBeNull();
    expect(job.steps.map((s) => s.name)).toEqual(STEP_NAMES);
    for (const s of job.steps) {
      expect([s.name, s.state, s.attempt_count, s.failure_message]).toEqual([
        s.name,
        'succeeded',
        1,
        null,
      ]);
      expect(ms(s.started_at)).toBeLessThanOrEqual(ms(s.finished_at));
    }
    // Each step starts after the one before it finished; the job spans them all.
    for (let i = 1; i < job.steps.length; i++)
      expect(ms(job.steps[i].started_at)).toBeGreaterThanOrEqual(ms(job.steps[i - 1].finished_at));
    expect(ms(job.started_at)).toBeLessThanOrEqual(ms(job.steps[0].started_at));
    expect(ms(job.steps[2].finished_at)).toBeLessThanOrEqual(ms(job.finished_at));

    expect(stepOf(job, 'validate_catalog').result).toEqual({ blobs_checked: 2 });
    const manifest = await api(app, 'GET', '/v1/images/debian-12/versions/20261123', w);
    const artifactId = manifest.body.artifacts[0].artifact.id;
    expect(stepOf(job, 'incus_index').result).toEqual({
      projected: [
        { artifact_id: artifactId, fingerprint: expectedFingerprint, type: 'virtual-machine' },
      ],
      skipped: [],
    });
    expect(stepOf(job, 'finalize_publish').result).toEqual({
      streams_revision: expect.any(Number),
      log_index: expect.any(Number),
    });

    expect(manifest.body.version).toMatchObject({
      state: 'published',
      published_by: writer.principalId,
    });
    expect(ms(manifest.body.version.published_at)).toBeGreaterThanOrEqual(
      ms(stepOf(job, 'finalize_publish').started_at),
    );

    // Exactly one set of projection rows: one row for the one eligible artifact.
    const rows = await streamsRowsOf(app.database.url, job.version_id);
    expect(rows).toEqual([
      {
        artifact_id: artifactId,
        combined_sha256: expectedFingerprint,
        product_key: 'debian-12:20261123:amd64:default',
        // The fixture's metadata.yaml serial, the product version key.
        serial: '20231114_22:13',
      },
    ]);
    const all = await sql(app.database.url, 'SELECT count(*)::int AS n FROM streams_item');
    expect(all[0].n).toBe(1);

    // Once published: 200 with the succeeded job.
    const published = await api(app, 'POST', publishPath('debian-12', '20261123'), w);
    expect(published.status).toBe(200);
    expect(published.body).toMatchObject({ id: job.id, state: 'succeeded' });

    const byVersion = await api(
      app,
      'GET',
      '/v1/images/debian-12/versions/20261123/publish-job',
      w,
    );
    expect(byVersion.body).toMatchObject({ id: job.id, state: 'succeeded' });
    const succeeded = await api(app, 'GET', '/v1/publish-jobs?state=succeeded', w);
    expect(succeeded.status).toBe(200);
    expect(succeeded.body.publish_jobs.map((j: JobBody) => j.id)).toContain(job.id);
    const listed = succeeded.body.publish_jobs.find((j: JobBody) => j.id === job.id);
    expect(listed).toMatchObject({ image_name: 'debian-12', version: '20261123' });
    expect(listed.steps.map((s: { name: string }) => s.name)).toEqual(STEP_NAMES);
    expect(listed.steps.map((s: { state: string }) => s.state)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    const failed = await api(app, 'GET', '/v1/publish-jobs?state=failed', w);
    expect(failed.body.publish_jobs.map((j: JobBody) => j.id)).not.toContain(job.id);

    // Metrics: by state from PostgreSQL at scrape time, runs and durations from the worker.
    expect(await metric(app, 'imgsrv_publish_jobs{state="succeeded"}')).toBe(1);
    expect(await metric(app, 'imgsrv_publish_steps{state="succeeded"}')).toBe(3);
    expect(await metric(app, 'imgsrv_publish_oldest_step_age_seconds{state="running"}')).toBe(0);
    for (const step of STEP_NAMES) {
      expect(
        await metric(app, `imgsrv_publish_step_runs_total{step="${step}",outcome="succeeded"}`),
      ).toBe(1);
      expect(
        await metric(
          app,
          `imgsrv_publish_step_duration_seconds_count{step="${step}",outcome="succeeded"}`,
        ),
      ).toBe(1);
    }

    // A succeeded job can be neither retried nor cancelled.
    for (const action of ['retry', 'cancel']) {
      const res = await api(app, 'POST', `/v1/publish-jobs/${job.id}/${action}`, w);
      expect([action, res.status, res.body.code]).toEqual([
        action,
        409,
        'PUBLISH_JOB_STATE_CONFLICT',
      ]);
    }
    const after = await api(app, 'GET', `/v1/publish-jobs/${job.id}`, w);
    expect(after.body.state).toBe('succeeded');
  });

  it('publishes a container (squashfs) and a VM artifact of one version together, skipping an unknown architecture', async () => {
    const rootfs = await makeSquashfs(dir, { seed: 'publish-ct' });
    const ctMeta = await makeIncusMetadata(dir, {
      architecture: 'x86_64',
      os: 'debian',
      release: 'bookworm',
      variant: 'default',
      type: 'container',
    });
    const vmDisk = await makeQcow2(dir, { seed: 'publish-vm-ct' });
    const { artifactIds } = await composeDraft(app, w, 'debian-13', '20261201', [
      { root: vmDisk, metadata: amd64Meta },
      { root: rootfs, metadata: ctMeta, format: 'squashfs' },
      // An architecture Incus does not know: left out of the projection, and reported.
      { root: vmDisk, metadata: amd64Meta, architecture: 'sparc64' },
    ]);
    const accepted = await api(app, 'POST', publishPath('debian-13', '20261201'), w);
    expect(accepted.status).toBe(202);
    const job = await waitForJob(app, w, accepted.body.id, ['succeeded', 'failed']);
    expect(job.state).toBe('succeeded');
    const rows = await streamsRowsOf(app.database.url, job.version_id);
    expect(rows.map((r) => r.combined_sha256).sort()).toEqual(
      [
        await combinedFingerprint(amd64Meta.path, vmDisk.path),
        await combinedFingerprint(ctMeta.path, rootfs.path),
      ].sort(),
    );
    expect(stepOf(job, 'validate_catalog').result).toEqual({ blobs_checked: 4 });
    expect(stepOf(job, 'incus_index').result?.skipped).toEqual([
      { artifact_id: artifactIds[2], reason: expect.stringContaining('sparc64') },
    ]);
    expect(rows.map((r) => r.artifact_id).sort()).toEqual(artifactIds.slice(0, 2).sort());
  });

  it('records the fingerprint of a metadata and root pair, and publishes the pair again without reading the root', async () => {
    const root = await makeQcow2(dir, { seed: 'publish-repeat' });
    const fingerprint = await combinedFingerprint(amd64Meta.path, root.path);
    // A bound of 2 minutes: the failing publish below retries its step with backoff first.
    const publish = async (image: string, version: string) => {
      await composeDraft(app, w, image, version, [{ root, metadata: amd64Meta }]);
      const accepted = await api(app, 'POST', publishPath(image, version), w);
      expect(accepted.status).toBe(202);
      return waitForJob(app, w, accepted.body.id, ['succeeded', 'failed'], 2400);
    };
    const pairRows = () =>
      sql(
        app.database.url,
        'SELECT fingerprint FROM incus_fingerprint WHERE metadata_digest = $1 AND root_digest = $2',
        [amd64Meta.sha256, root.sha256],
      );
    expect(await pairRows()).toEqual([]);
    const first = await publish('repeat-a', '1');
    expect(first.state).toBe('succeeded');
    expect(await pairRows()).toEqual([{ fingerprint }]);

    // The root's bytes are gone from the store (nothing serves them now): a daily build that
    // repeats the pair publishes anyway, so its publish did not read them ...
    const rootFile = join(app.dataDir, 'blobs', casKeyOf(root.sha256));
    const saved = `${rootFile}.aside`;
    await rename(rootFile, saved);
    try {
      const again = await publish('repeat-b', '1');
      expect(again.state).toBe('succeeded');
      expect((await streamsRowsOf(app.database.url, again.version_id))[0].combined_sha256).toBe(
        fingerprint,
      );
      // ... which one whose pair is not recorded must (and here cannot).
      await sql(app.database.url, 'DELETE FROM incus_fingerprint WHERE root_digest = $1', [
        root.sha256,
      ]);
      const unrecorded = await publish('repeat-c', '1');
      expect(unrecorded.state).toBe('failed');
      expect(stepOf(unrecorded, 'incus_index').state).toBe('failed');
    } finally {
      await rename(saved, rootFile);
    }
  }, 180_000);

  it('refuses a draft citing blobs that are not trusted with their declared size, listing each', async () => {
    const other = await makeQcow2(dir, { seed: 'publish-refusal' });
    const missing = `sha256:${randomBytes(32).toString('hex')}`;
    const missingMeta = `sha256:${randomBytes(32).toString('hex')}`;
    await composeDraft(app, w, 'refused', '1', [
      // Cites a digest never uploaded.
      {
        root: { path: '', sha256: missing, size: 1234 },
        architecture: 'amd64',
        upload: false,
      },
      // Uploaded, but declared one byte larger than the verified blob.
      { root: other, declaredRootSize: other.size + 1, architecture: 'arm64' },
    ]);
    // An attachment citing a digest never uploaded, on the second artifact.
    const manifest = await api(app, 'GET', '/v1/images/refused/versions/1', w);
    const second = manifest.body.artifacts.find(
      (a: { artifact: { architecture: string } }) => a.artifact.architecture === 'arm64',
    ).artifact.id;
    expect(
      (
        await api(app, 'POST', `/v1/images/refused/versions/1/artifacts/${second}/attachments`, w, {
          name: 'incus.tar.xz',
          media_type: 'application/x-xz',
          blob_digest: missingMeta,
          blob_size_bytes: 99,
        })
      ).status,
    ).toBe(201);

    const res = await api(app, 'POST', publishPath('refused', '1'), w);
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('VERSION_NOT_PUBLISHABLE');
    const problems = res.body.problems as { digest: string; reason: string }[];
    expect(problems.map((p) => [p.digest, p.reason]).sort()).toEqual(
      [
        [missing, 'not_uploaded'],
        [missingMeta, 'not_uploaded'],
        [other.sha256, 'size_mismatch'],
      ].sort(),
    );
    for (const digest of [missing, missingMeta, other.sha256])
      expect(res.body.detail).toContain(digest);

    const version = await api(app, 'GET', '/v1/images/refused/versions/1', w);
    expect(version.body.version.state).toBe('draft');
    expect((await api(app, 'GET', '/v1/images/refused/versions/1/publish-job', w)).status).toBe(
      404,
    );

    // A draft with no artifacts at all.
    await composeDraft(app, w, 'refused', 'empty', []);
    const empty = await api(app, 'POST', publishPath('refused', 'empty'), w);
    expect(empty.status).toBe(409);
    expect(empty.body).toMatchObject({
      code: 'VERSION_NOT_PUBLISHABLE',
      problems: [{ digest: null, reason: 'no_artifacts' }],
    });
    expect((await api(app, 'GET', '/v1/images/refused/versions/empty', w)).body.version.state).toBe(
      'draft',
    );
    const jobs = await sql(
      app.database.url,
      `SELECT count(*)::int AS n FROM publish_job j JOIN image_version v ON v.id = j.version_id
        JOIN image i ON i.id = v.image_id WHERE i.name = 'refused'`,
    );
    expect(jobs[0].n).toBe(0);
  });

  it('fails a job whose metadata contradicts its artifact, cancels it, and publishes the fix', async () => {
    const vmDisk = await makeQcow2(dir, { seed: 'publish-contradiction' });
    const { artifactIds } = await composeDraft(app, w, 'ubuntu-24.04', '20261124', [
      { root: vmDisk, metadata: arm64Meta, architecture: 'amd64' },
    ]);
    const accepted = await api(app, 'POST', publishPath('ubuntu-24.04', '20261124'), w);
    expect(accepted.status).toBe(202);
    const failed = await waitForJob(app, w, accepted.body.id, ['failed', 'succeeded']);
    expect(failed.state).toBe('failed');
    expect(failed.failure_message).toContain('incus_index');
    expect(failed.failure_message).toContain(artifactIds[0]);
    expect(failed.failure_message).toMatch(/\bamd64\b.*\barm64\b/);
    expect(failed.finished_at).not.toBeNull();
    expect(failed.steps.map((s) => [s.name, s.state, s.attempt_count])).toEqual([
      ['validate_catalog', 'succeeded', 1],
      // A permanent error: no automatic retry.
      ['incus_index', 'failed', 1],
      ['finalize_publish', 'queued', 0],
    ]);
    expect(stepOf(failed, 'incus_index').failure_message).toMatch(/amd64.*arm64/);
    expect(await streamsRowsOf(app.database.url, failed.version_id)).toEqual([]);
    expect(
      (await api(app, 'GET', '/v1/images/ubuntu-24.04/versions/20261124', w)).body.version.state,
    ).toBe('publishing');
    // Publishing again while the failed job is the version's job: the same job.
    const again = await api(app, 'POST', publishPath('ubuntu-24.04', '20261124'), w);
    expect([again.status, again.body.id]).toEqual([202, failed.id]);

    const cancelled = await api(app, 'POST', `/v1/publish-jobs/${failed.id}/cancel`, w);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    expect(cancelled.body.steps.map((s: { state: string }) => s.state)).toEqual([
      'succeeded',
      'failed',
      'skipped',
    ]);
    expect(
      (await api(app, 'GET', '/v1/images/ubuntu-24.04/versions/20261124', w)).body.version.state,
    ).toBe('draft');
    for (const action of ['retry', 'cancel']) {
      const res = await api(app, 'POST', `/v1/publish-jobs/${failed.id}/${action}`, w);
      expect([action, res.status]).toEqual([action, 409]);
    }

    // Fix the draft: replace the artifact with one whose metadata agrees, then publish again.
    expect(
      (
        await api(
          app,
          'DELETE',
          `/v1/images/ubuntu-24.04/versions/20261124/artifacts/${artifactIds[0]}`,
          w,
        )
      ).status,
    ).toBe(204);
    const fixed = await addArtifact(app, w, 'ubuntu-24.04', '20261124', {
      root: vmDisk,
      metadata: amd64Meta,
    });
    const republish = await api(app, 'POST', publishPath('ubuntu-24.04', '20261124'), w);
    expect(republish.status).toBe(202);
    expect(republish.body.id).not.toBe(failed.id);
    const done = await waitForJob(app, w, republish.body.id, ['succeeded', 'failed']);
    expect(done.state).toBe('succeeded');
    expect(done.steps.map((s) => s.attempt_count)).toEqual([1, 1, 1]);
    const rows = await streamsRowsOf(app.database.url, done.version_id);
    expect(rows.map((r) => [r.artifact_id, r.combined_sha256])).toEqual([
      [fixed.artifactId, await combinedFingerprint(amd64Meta.path, vmDisk.path)],
    ]);
    const latest = await api(
      app,
      'GET',
      '/v1/images/ubuntu-24.04/versions/20261124/publish-job',
      w,
    );
    expect(latest.body.id).toBe(done.id);
    // The cancelled job is still there to read.
    expect((await api(app, 'GET', `/v1/publish-jobs/${failed.id}`, w)).body.state).toBe(
      'cancelled',
    );
    const cancelledList = await api(app, 'GET', '/v1/publish-jobs?state=cancelled', w);
    expect(cancelledList.body.publish_jobs.map((j: JobBody) => j.id)).toEqual([failed.id]);
  });

  it('lists jobs newest first, page by page', async () => {
    const all = await api(app, 'GET', '/v1/publish-jobs?limit=100', w);
    expect(all.status).toBe(200);
    expect(all.body.next_cursor).toBeNull();
    const ids: string[] = all.body.publish_jobs.map((j: JobBody) => j.id);
    expect(ids.length).toBeGreaterThanOrEqual(4);
    const created = all.body.publish_jobs.map((j: { created_at: string }) => ms(j.created_at));
    expect([...created].sort((a, b) => b - a)).toEqual(created);
    const paged: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const page: { body: { publish_jobs: JobBody[]; next_cursor: string | null } } = await api(
        app,
        'GET',
        `/v1/publish-jobs?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        w,
      );
      paged.push(...page.body.publish_jobs.map((j) => j.id));
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    expect(paged).toEqual(ids);
  });

  it('keeps jobs within the image scope of the caller’s grants', async () => {
    const all = (await api(app, 'GET', '/v1/publish-jobs?limit=100', w)).body
      .publish_jobs as JobBody[];
    const debian = all.find((j) => j.image_name === 'debian-12') as JobBody;
    const ubuntu = all.find((j) => j.image_name === 'ubuntu-24.04') as JobBody;
    expect([debian?.state, ubuntu?.state]).toEqual(['succeeded', expect.any(String)]);

    const debianReader = (await issueIdentity(app, 'reader', ['debian-*'])).headers;
    const debianWriter = (await issueIdentity(app, 'content-writer', ['debian-*'])).headers;
    const listed = await api(app, 'GET', '/v1/publish-jobs?limit=100', debianReader);
    expect(listed.status).toBe(200);
    expect(new Set(listed.body.publish_jobs.map((j: JobBody) => j.image_name))).toEqual(
      new Set(['debian-12', 'debian-13']),
    );
    expect((await api(app, 'GET', `/v1/publish-jobs/${debian.id}`, debianReader)).status).toBe(200);
    for (const [method, path, who] of [
      ['GET', `/v1/publish-jobs/${ubuntu.id}`, debianReader],
      ['POST', `/v1/publish-jobs/${ubuntu.id}/retry`, debianWriter],
      ['POST', `/v1/publish-jobs/${ubuntu.id}/cancel`, debianWriter],
    ] as const) {
      const res = await api(app, method, path, who);
      expect([path, res.status, res.body.code]).toEqual([path, 404, 'PUBLISH_JOB_NOT_FOUND']);
    }
    // Reads everything, publishes only debian-*: may see the ubuntu job, not act on it.
    const mixed = await issueIdentity(app, 'reader', ['*']);
    await authCall(app, 'PUT', `/v1/auth/principals/${mixed.principalId}/roles/release-manager`, {
      images: ['debian-*'],
    });
    const readAll = await issueIdentity(app, 'reader', ['*']);
    for (const action of ['retry', 'cancel']) {
      const res = await api(app, 'POST', `/v1/publish-jobs/${ubuntu.id}/${action}`, mixed.headers);
      expect([action, res.status, res.body.code, res.body.image]).toEqual([
        action,
        403,
        'FORBIDDEN',
        'ubuntu-24.04',
      ]);
    }
    const reader = await api(app, 'POST', `/v1/publish-jobs/${ubuntu.id}/cancel`, readAll.headers);
    expect(reader.status).toBe(403);
    const stillThere = await api(app, 'GET', `/v1/publish-jobs/${ubuntu.id}`, readAll.headers);
    expect(stillThere.body.state).toBe(ubuntu.state);
  });

  it('answers 404 for unknown jobs and 400 for malformed ids', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const [method, path] of [
      ['GET', `/v1/publish-jobs/${unknown}`],
      ['POST', `/v1/publish-jobs/${unknown}/retry`],
      ['POST', `/v1/publish-jobs/${unknown}/cancel`],
    ]) {
      const res = await api(app, method, path, w);
      expect([path, res.status, res.body.code]).toEqual([path, 404, 'PUBLISH_JOB_NOT_FOUND']);
    }
    expect((await api(app, 'GET', '/v1/publish-jobs/not-a-uuid', w)).status).toBe(400);
    expect((await api(app, 'GET', '/v1/publish-jobs?state=bogus', w)).status).toBe(400);
  });
});
