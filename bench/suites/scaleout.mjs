// Two API processes and two worker processes (separate OS processes sharing PostgreSQL, Redis and
// the blob store) under a mixed load for a bounded time, against the same load on one API process
// and one worker process.
import { createHash } from 'node:crypto';
import { request } from 'undici';
import {
  agent,
  ApiError,
  apiClient,
  randomBlob,
  uploadBuffer,
  waitForJob,
  writerToken,
} from '../lib/client.mjs';
import { makeDraft, pool, uploadMetadata } from '../lib/images.mjs';
import { sumMetric } from '../lib/procs.mjs';
import { KIB, log, nowMs, sleep } from '../lib/util.mjs';

const IMAGES = ['alpha', 'beta', 'gamma', 'delta'];
const pick = (list) => list[Math.floor(Math.random() * list.length)];

async function runLayout(ctx, { apis: apiCount, workers: workerCount, seconds }) {
  const layout = `${apiCount} API + ${workerCount} worker`;
  const group = await ctx.group(`scale-${apiCount}x${workerCount}`);
  const apiProcs = [];
  for (let i = 0; i < apiCount; i++)
    apiProcs.push(await group.start(`api-${i + 1}`, { roles: 'api' }));
  const workerProcs = [];
  for (let i = 0; i < workerCount; i++)
    workerProcs.push(await group.start(`worker-${i + 1}`, { roles: 'worker' }));
  const token = await writerToken(apiProcs[0].url, group.bootstrapToken);
  const clients = apiProcs.map((p) => apiClient(p.url, token));
  let rr = 0;
  const next = () => clients[rr++ % clients.length];

  // Seed: each image gets a metadata tarball and one published version, so every actor has work.
  const metas = {};
  const published = []; // {image, version, paths}
  for (const image of IMAGES) {
    await clients[0].post('/v1/images', { name: image });
    metas[image] = await uploadMetadata(clients[0], ctx.workDir, image, layout.replace(/\W/g, ''));
    const { base, artifacts } = await makeDraft(clients[0], {
      image,
      version: 'seed',
      meta: metas[image],
      rootSize: 64 * KIB,
    });
    const job = (await clients[0].post(`${base}/publish`, {})).body;
    await waitForJob(clients[0], job.id, { pollMs: 20 });
    published.push({
      image,
      version: 'seed',
      paths: artifacts.map((a) => `${base}/artifacts/${a.id}/download`),
    });
  }

  const counts = { upload: 0, publish: 0, alias_move: 0, streams_read: 0, download: 0 };
  const errors = { status5xx: 0, other: 0, samples: [] };
  const jobs = [];
  let mismatches = 0;
  let comparedPairs = 0;
  const deadline = nowMs() + seconds * 1000;
  const guard = async (work) => {
    try {
      await work();
    } catch (error) {
      if (error instanceof ApiError && error.status >= 500) errors.status5xx++;
      else errors.other++;
      if (errors.samples.length < 5) errors.samples.push(String(error.message).slice(0, 300));
    }
  };
  const loop = (work) =>
    (async () => {
      while (nowMs() < deadline) await guard(work);
    })();
  let serial = 0;
  const t0 = nowMs();
  await Promise.all([
    // uploads: fresh 256 KiB blobs
    ...[1, 2].map(() =>
      loop(async () => {
        await uploadBuffer(next(), randomBlob(256 * KIB));
        counts.upload++;
      }),
    ),
    // publishes: a new version with two artifacts, published without waiting
    ...[1, 2].map(() =>
      loop(async () => {
        const image = pick(IMAGES);
        const version = `v${++serial}`;
        const api = next();
        const { base, artifacts } = await makeDraft(api, {
          image,
          version,
          meta: metas[image],
          rootSize: 64 * KIB,
        });
        const job = (await api.post(`${base}/publish`, {})).body;
        jobs.push({
          id: job.id,
          image,
          version,
          paths: artifacts.map((a) => `${base}/artifacts/${a.id}/download`),
        });
        counts.publish++;
      }),
    ),
    // alias moves: `latest` to a random published version of the image
    loop(async () => {
      const target = pick(published);
      await next().put(`/v1/images/${target.image}/aliases/latest`, { version: target.version });
      counts.alias_move++;
      await sleep(5);
    }),
    // streams reads from both API processes at once: same ETag ⇒ same bytes
    ...[1, 2].map(() =>
      loop(async () => {
        const answers = await Promise.all(
          clients.map(async (c) => {
            const res = await request(`${c.base}/streams/v1/images.json`, { dispatcher: agent });
            const body = Buffer.from(await res.body.arrayBuffer());
            if (res.statusCode !== 200)
              throw new ApiError('GET', '/streams/v1/images.json', res.statusCode, body.toString());
            return { etag: res.headers.etag, sha: createHash('sha256').update(body).digest('hex') };
          }),
        );
        counts.streams_read += answers.length;
        if (answers.length === 2 && answers[0].etag === answers[1].etag) {
          comparedPairs++;
          if (answers[0].sha !== answers[1].sha) mismatches++;
        }
      }),
    ),
    // downloads of published artifacts
    ...[1, 2].map(() =>
      loop(async () => {
        const p = pick(published);
        const res = await request(`${next().base}${pick(p.paths)}`, { dispatcher: agent });
        await res.body.dump({ limit: Infinity });
        if (res.statusCode !== 200) throw new ApiError('GET', 'download', res.statusCode, '');
        counts.download++;
      }),
    ),
    // learn which publishes finished, so alias moves and downloads reach new versions
    (async () => {
      while (nowMs() < deadline) {
        await sleep(250);
        for (const j of jobs.filter((x) => !x.done)) {
          const job = (await clients[0].get(`/v1/publish-jobs/${j.id}`)).body;
          if (job.state === 'succeeded') {
            j.done = true;
            published.push(j);
          }
        }
      }
    })(),
  ]);
  const loadS = (nowMs() - t0) / 1000;
  // Every publish must succeed; wait for the stragglers.
  await pool(jobs.length, 8, (i) =>
    waitForJob(clients[0], jobs[i].id, { pollMs: 50, timeoutMs: 300_000 }).catch((e) => {
      errors.other++;
      errors.samples.push(String(e.message).slice(0, 300));
    }),
  );
  const drainedS = (nowMs() - t0) / 1000;

  const checks = [];
  const db = await group.pg(async (c) => ({
    jobsPerVersion: (
      await c.query(
        `SELECT count(*)::int AS n FROM (SELECT version_id FROM publish_job GROUP BY version_id HAVING count(*) <> 1) x`,
      )
    ).rows[0].n,
    notSucceeded: (
      await c.query(`SELECT count(*)::int AS n FROM publish_job WHERE state <> 'succeeded'`)
    ).rows[0].n,
    notPublished: (
      await c.query(
        `SELECT count(*)::int AS n FROM image_version v WHERE v.state <> 'published' AND EXISTS (SELECT 1 FROM publish_job j WHERE j.version_id = v.id)`,
      )
    ).rows[0].n,
    finalizeRuns: (
      await c.query(
        `SELECT count(*)::int AS n FROM publish_step WHERE name = 'finalize_publish' AND attempt_count <> 1`,
      )
    ).rows[0].n,
  }));
  checks.push({
    ok: db.jobsPerVersion === 0 && db.notSucceeded === 0 && db.notPublished === 0,
    text: `every publish succeeded exactly once: ${jobs.length + IMAGES.length} jobs, one per version (${db.jobsPerVersion} versions with another count), ${db.notSucceeded} not succeeded, ${db.notPublished} versions left unpublished; finalize_publish steps with more than one attempt: ${db.finalizeRuns}`,
  });
  const perWorker = [];
  for (const w of workerProcs)
    perWorker.push(
      sumMetric(
        await w.metrics(),
        'imgsrv_publish_step_runs_total',
        (l) => l.outcome === 'succeeded',
      ),
    );
  checks.push({
    ok: perWorker.every((n) => n > 0),
    text: `every worker process did work: steps succeeded per worker ${perWorker.join(' / ')}`,
  });
  // Quiet now: every API process serves the same bytes for the same revision.
  const finals = await Promise.all(
    clients.map(async (c) => {
      const res = await request(`${c.base}/streams/v1/images.json`, { dispatcher: agent });
      return {
        etag: res.headers.etag,
        sha: createHash('sha256')
          .update(Buffer.from(await res.body.arrayBuffer()))
          .digest('hex'),
      };
    }),
  );
  checks.push({
    ok:
      mismatches === 0 && finals.every((f) => f.sha === finals[0].sha && f.etag === finals[0].etag),
    text:
      apiCount > 1
        ? `API processes serve byte-identical images.json for the same revision: ${comparedPairs} same-ETag pairs compared under load, ${mismatches} differed; after the load both answer ETag ${finals[0].etag}`
        : `one API process: images.json ETag ${finals[0].etag} after the load`,
  });
  checks.push({
    ok: errors.status5xx === 0,
    text: `no 5xx answers (${errors.status5xx}); other errors: ${errors.other}${errors.samples.length ? ` (${errors.samples.join(' | ')})` : ''}`,
  });
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const opsPerS = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / loadS]));
  const result = {
    layout,
    duration_s: loadS,
    drained_s: drainedS,
    counts,
    ops_per_s: opsPerS,
    total_ops: total,
    publishes_requested: jobs.length,
    publishes_succeeded: jobs.length - db.notSucceeded,
    publishes_per_s_including_drain: jobs.length / drainedS,
    status_5xx: errors.status5xx,
    other_errors: errors.other,
    error_samples: errors.samples,
    steps_per_worker: perWorker,
    checks,
  };
  log(
    `${layout}: ${total} operations in ${loadS.toFixed(1)} s (${(total / loadS).toFixed(1)}/s), ${jobs.length} publishes, drained at ${drainedS.toFixed(1)} s; checks ${checks.every((c) => c.ok) ? 'pass' : 'FAIL'}`,
  );
  await group.stop();
  return result;
}

export async function scaleOutSuite(ctx) {
  const seconds = ctx.settings.scaleOutSeconds;
  const runs = [];
  // Interleaved: 1+1, 2+2, 1+1, 2+2, … each on a fresh database.
  for (let r = 0; r < ctx.settings.loadRuns; r++) {
    runs.push(await runLayout(ctx, { apis: 1, workers: 1, seconds }));
    runs.push(await runLayout(ctx, { apis: 2, workers: 2, seconds }));
  }
  const opsOf = (layout) =>
    runs.filter((r) => r.layout === layout).map((r) => r.total_ops / r.duration_s);
  ctx.scaleOut = {
    description:
      `The same mixed load for ${seconds} s on each layout, ${ctx.settings.loadRuns} times each, interleaved: 2 uploaders (256 KiB blobs), 2 publishers ` +
      '(a new version with a VM and a container artifact, 64 KiB each, published without waiting), 1 alias mover ' +
      '(`latest` to a random published version), 2 streams readers (images.json from every API process at once, ' +
      'comparing bytes when the ETags agree) and 2 downloaders (random published artifacts); requests alternate ' +
      'between the API processes. Processes are separate `node dist/main.js serve` processes with IMGSRV_ROLES=api ' +
      'or worker, sharing one PostgreSQL database, one Redis prefix and one fs blob store; the load generator runs ' +
      'on the same 2-core machine.',
    runs,
  };
  for (const r of runs)
    for (const c of r.checks) if (!c.ok) ctx.note(`scale-out ${r.layout}: check failed: ${c.text}`);
  ctx.figure({
    id: 'scaleout.ops',
    suite: 'Scale-out',
    title:
      'Mixed load, operations per second: 2 API + 2 worker processes (reference: 1 API + 1 worker)',
    unit: 'ops/s',
    better: 'higher',
    samples: opsOf('2 API + 2 worker'),
    reference: { name: '1 API + 1 worker, same load', samples: opsOf('1 API + 1 worker') },
  });
}
