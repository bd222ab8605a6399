// A catalog grown from 1,000 to 10,000 published versions (2 Incus images each; 3 aliases per 10
// versions) on one server: at each size, the time from a publish to the first render of
// images.json, the publish p50, GET images.json against nginx serving the same bytes, and the
// server's resident memory. Reports how each grows between the sizes.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { agent, apiClient, waitForJob, writerToken } from '../lib/client.mjs';
import { makeDraft, pool, uploadMetadata } from '../lib/images.mjs';
import { load } from '../lib/load.mjs';
import { rssOf, sampleRss, startNginx, sumMetric } from '../lib/procs.mjs';
import { KIB, log, median, MIB, nowMs } from '../lib/util.mjs';

const IMAGES = 10;
const ALIASES_PER_VERSION = 0.3;

async function getTimed(url, headers = {}) {
  const t0 = nowMs();
  const res = await request(url, { dispatcher: agent, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { ms: nowMs() - t0, status: res.statusCode, etag: res.headers.etag, body };
}

const fmtSize = (n) => (n >= 1000 ? `${n / 1000},000` : String(n));

/**
 * Where a publish's time went, from the job's own timestamps (millisecond precision): queued
 * (created → a worker began it), each step, and the gaps between steps (the runner's bookkeeping).
 */
function publishPhases(job) {
  const at = (iso) => Date.parse(iso);
  const steps = [...job.steps].sort((a, b) => a.sequence - b.sequence);
  const out = { queued: at(job.started_at) - at(job.created_at) };
  let prev = at(job.started_at);
  let between = 0;
  for (const step of steps) {
    if (!step.started_at || !step.finished_at) continue;
    between += at(step.started_at) - prev;
    out[step.name] = at(step.finished_at) - at(step.started_at);
    prev = at(step.finished_at);
  }
  out.between_steps = between + (at(job.finished_at) - prev);
  return out;
}

/** Per phase, the median over publishes. */
function phaseMedians(phases) {
  const names = [...new Set(phases.flatMap((p) => Object.keys(p)))];
  return Object.fromEntries(names.map((n) => [n, median(phases.map((p) => p[n] ?? 0))]));
}

export async function scaleSuite(ctx) {
  const { scaleSizes, scalePublishes, loadSeconds, loadRuns } = ctx.settings;
  const group = await ctx.group('scale');
  const server = await group.start('api', { env: { IMGSRV_WORKER_CONCURRENCY: '8' } });
  const api = apiClient(server.url, await writerToken(server.url, group.bootstrapToken));
  const autovacuum = await group.pg(
    async (c) => (await c.query('SHOW autovacuum')).rows[0].autovacuum === 'on',
  );
  if (!autovacuum)
    ctx.note(
      "Scale: this machine's PostgreSQL runs without autovacuum, so the suite runs VACUUM (ANALYZE) " +
        'once after growing to each size, before it measures, as autovacuum would have by then.',
    );
  const metas = [];
  for (let i = 0; i < IMAGES; i++) {
    await api.post('/v1/images', { name: `scale${i}`, description: `benchmark image ${i}` });
    metas.push(await uploadMetadata(api, ctx.workDir, `scale${i}`, 'bench'));
  }
  const perImage = new Array(IMAGES).fill(0);
  let versions = 0;
  let aliases = 0;
  const results = [];

  for (const size of scaleSizes) {
    let rss = sampleRss(server.pid, 100);
    const phasePeaks = {};
    const phase = async (name) => {
      phasePeaks[name] = (await rss.stop()).peak / MIB;
      rss = sampleRss(server.pid, 100);
    };
    // Grow to `size` published versions, round robin over the images, 32 drafts at a time.
    const seed0 = nowMs();
    const grow = size - versions;
    const jobs = await pool(grow, 32, async (n) => {
      const i = (versions + n) % IMAGES;
      const version = `${perImage[i]++}.0`;
      await makeDraft(api, {
        image: `scale${i}`,
        version,
        meta: metas[i],
        rootSize: 4 * KIB,
        oneRequest: true,
      });
      return (await api.post(`/v1/images/scale${i}/versions/${version}/publish`, {})).body.id;
    });
    await pool(jobs.length, 8, (i) => waitForJob(api, jobs[i], { pollMs: 100 }));
    versions = size;
    const wantAliases = Math.round(size * ALIASES_PER_VERSION);
    await pool(wantAliases - aliases, 8, async (n) => {
      const a = aliases + n;
      const i = a % IMAGES;
      const target = `${(Math.floor(a / IMAGES) * 7) % perImage[i]}.0`;
      await api.put(`/v1/images/scale${i}/aliases/a${Math.floor(a / IMAGES)}`, { version: target });
    });
    aliases = wantAliases;
    const seedS = (nowMs() - seed0) / 1000;
    log(`scale: ${size} versions, ${aliases} aliases (${seedS.toFixed(0)} s to grow)`);
    if (!autovacuum) {
      // Growing leaves tens of thousands of dead row versions (every job, step and version changes
      // state several times) and the statistics of an empty database; autovacuum, on in any
      // production PostgreSQL, would have cleared both by now (docs/operations.md).
      const t = nowMs();
      await group.pg((c) => c.query('VACUUM (ANALYZE)'));
      log(
        `scale: VACUUM (ANALYZE) at ${size} versions took ${((nowMs() - t) / 1000).toFixed(1)} s`,
      );
    }
    await phase('growing');

    // Publish one more version at a time: request → succeeded, then the first GET renders.
    const publishes = [];
    const phases = [];
    const renders = [];
    for (let r = 0; r < scalePublishes; r++) {
      const version = `extra-${size}-${r}`;
      await makeDraft(api, {
        image: 'scale0',
        version,
        meta: metas[0],
        rootSize: 4 * KIB,
        oneRequest: true,
      });
      const t0 = nowMs();
      const job = (await api.post(`/v1/images/scale0/versions/${version}/publish`, {})).body;
      const done = await waitForJob(api, job.id, { pollMs: 2 });
      publishes.push(nowMs() - t0);
      phases.push(publishPhases(done));
      const before = sumMetric(await server.metrics(), 'imgsrv_streams_renders_total');
      const first = await getTimed(`${server.url}/streams/v1/images.json`);
      const after = sumMetric(await server.metrics(), 'imgsrv_streams_renders_total');
      if (after !== before + 1) throw new Error(`expected one render, saw ${after - before}`);
      if (!first.body.includes(`"scale0/${version}"`))
        throw new Error(`images.json lacks scale0/${version}`);
      renders.push(first.ms);
    }
    versions += scalePublishes;
    await phase('publishing_and_rendering');

    // GET images.json against nginx serving the same bytes.
    const doc = await getTimed(`${server.url}/streams/v1/images.json`);
    const root = join(ctx.workDir, `scale-static-${size}`);
    await mkdir(join(root, 'streams', 'v1'), { recursive: true });
    await writeFile(join(root, 'streams', 'v1', 'images.json'), doc.body);
    const nginx = await startNginx({ root, workDir: join(ctx.workDir, `scale-nginx-${size}`) });
    const nginxDoc = await getTimed(`${nginx.url}/streams/v1/images.json`);
    if (!nginxDoc.body.equals(doc.body)) throw new Error('nginx does not serve the same bytes');
    const mine = [];
    const theirs = [];
    // Counted, not timed: at 10,000 versions one answer takes seconds (see load.mjs).
    try {
      for (let r = 0; r < loadRuns; r++) {
        const url = (base) => `${base}/streams/v1/images.json`;
        theirs.push(await load({ url: url(nginx.url), seconds: loadSeconds, counted: true }));
        mine.push(await load({ url: url(server.url), seconds: loadSeconds, counted: true }));
      }
    } finally {
      await nginx.stop(); // a failed load left it running
    }
    await phase('serving_images_json');
    await rss.stop();
    const peak = Math.max(...Object.values(phasePeaks)) * MIB;
    const settled = await rssOf(server.pid);
    const parsed = JSON.parse(doc.body.toString());
    let images = 0;
    for (const p of Object.values(parsed.products))
      for (const v of Object.values(p.versions))
        images += Object.keys(v.items).filter((k) => k !== 'incus.tar.xz').length;
    results.push({
      size,
      versions,
      images,
      aliases,
      bytes: doc.body.length,
      seedS,
      publishes,
      phases,
      renders,
      mine,
      theirs,
      rssPeak: peak,
      rssSettled: settled,
      phasePeaks,
    });
  }

  const first = results[0];
  const last = results.at(-1);
  const what = (r) =>
    `${r.versions} versions, ${r.images} images, ${r.aliases} aliases; ${(r.bytes / MIB).toFixed(1)} MiB`;
  const grows = (f) => ({
    [`at_${first.size}`]: f(first),
    [`at_${last.size}`]: f(last),
    growth: f(last) / f(first),
  });
  for (const r of results) {
    const big = r === last;
    const label = fmtSize(r.size);
    ctx.figure({
      id: `scale.render.first.${r.size}`,
      suite: 'Scale',
      title: `Time from a publish to the first render of images.json served, ${label} versions (${what(r)})`,
      unit: 'ms',
      samples: r.renders,
      ...(big ? { target: { text: '≤ 1 s', op: '<=', bound: 1000, of: 'value' } } : {}),
      extra: { growth: grows((x) => median(x.renders)) },
    });
    ctx.figure({
      id: `scale.publish.p50.${r.size}`,
      suite: 'Scale',
      title: `Publish p50 (request → succeeded, one version with two artifacts) at ${label} versions`,
      unit: 'ms',
      samples: r.publishes,
      ...(big && r !== first
        ? {
            reference: {
              name: `the same at ${fmtSize(first.size)} versions`,
              short: fmtSize(first.size),
              samples: first.publishes,
            },
            target: {
              text: `≤ 1.2× the ${fmtSize(first.size)}-version figure`,
              op: '<=',
              bound: 1.2,
            },
          }
        : {}),
      extra: {
        growth: grows((x) => median(x.publishes)),
        grow_seconds: r.seedS,
        // The job's own timestamps: the rest of the p50 is the request, the wake-up and the polls.
        phases_p50_ms: phaseMedians(r.phases),
      },
    });
    ctx.figure({
      id: `scale.images.rps.${r.size}`,
      suite: 'Scale',
      title: `GET images.json at ${label} versions (${what(r)}), 32 connections, a counted load: requests/s`,
      unit: 'req/s',
      better: 'higher',
      samples: r.mine.map((m) => m.rps),
      reference: {
        name: 'nginx serving the same file',
        short: 'nginx',
        samples: r.theirs.map((m) => m.rps),
      },
      ...(big ? { target: { text: '≥ 1× nginx', op: '>=', bound: 1 } } : {}),
      extra: {
        p99_ms: r.mine.map((m) => m.p99),
        reference_p99_ms: r.theirs.map((m) => m.p99),
        answers_counted: r.mine.map((m) => m.total),
        reference_answers_counted: r.theirs.map((m) => m.total),
        growth: grows((x) => median(x.mine.map((m) => m.rps))),
      },
    });
    ctx.figure({
      id: `scale.rss_peak.${r.size}`,
      suite: 'Scale',
      title: `Server peak resident memory while growing to and serving ${label} versions`,
      unit: 'MiB',
      samples: [r.rssPeak / MIB],
      ...(big ? { target: { text: '≤ 300 MiB', op: '<=', bound: 300, of: 'value' } } : {}),
      extra: {
        settled_mib: r.rssSettled / MIB,
        peak_mib_by_phase: r.phasePeaks,
        growth: grows((x) => x.rssPeak),
      },
    });
  }
  await group.stop();
}
