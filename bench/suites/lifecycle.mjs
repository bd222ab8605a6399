// Retention: applying a policy (keep_latest 1) to an image with 1,000 published versions, from
// the PUT to every other version withdrawn, beside publishing them; and publish latency
// (request → succeeded) with a policy in place, beside the same publishes without one.
import { apiClient, waitForJob, writerToken } from '../lib/client.mjs';
import { makeDraft, pool, uploadMetadata } from '../lib/images.mjs';
import { KIB, log, nowMs, sleep } from '../lib/util.mjs';

async function publishTimed(api, image, version, meta) {
  await makeDraft(api, { image, version, meta, rootSize: 4 * KIB });
  const t0 = nowMs();
  const start = await api.post(`/v1/images/${image}/versions/${version}/publish`, {});
  await waitForJob(api, start.body.id, { pollMs: 2 });
  return nowMs() - t0;
}

/** p50 of `n` sequential GETs of `url` (each body read whole), in ms. */
async function timedGets(url, n, headers = {}) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowMs();
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
    samples.push(nowMs() - t0);
  }
  return samples;
}

/**
 * The web catalog on an image with many published versions (anonymous, public reads): the image
 * list, the image page (its first 50 versions) and one version page, beside the API's JSON of
 * the same first page of versions.
 */
async function webCatalogPages(ctx, base, token, versions) {
  const runs = 50;
  const apiPage = await timedGets(`${base}/v1/images/daily/versions?limit=50`, runs, {
    authorization: `Bearer ${token}`,
  });
  for (const [id, path, what] of [
    ['list', '/ui', 'the image list'],
    ['image', '/ui/images/daily', 'the image page (first 50 versions)'],
    ['version', `/ui/images/daily/versions/${Math.floor(versions / 2)}`, 'a version page'],
  ]) {
    ctx.figure({
      id: `ui.${id}`,
      suite: 'Web catalog',
      title: `Web catalog: ${what} with ${versions} published versions, GET p50 of ${runs}`,
      unit: 'ms',
      samples: await timedGets(`${base}${path}`, runs),
      reference: { name: 'the API listing 50 versions (JSON)', short: 'API', samples: apiPage },
    });
  }
}

export async function lifecycleSuite(ctx) {
  const { streamsVersions, sequentialPublishes } = ctx.settings;
  const group = await ctx.group('lifecycle');
  // The default layout, with the retention run every 100 ms so the wait measures the work.
  const server = await group.start('api', {
    env: { IMGSRV_WORKER_CONCURRENCY: '8', IMGSRV_RETENTION_INTERVAL: '100ms' },
  });
  const token = await writerToken(server.url, group.bootstrapToken);
  const api = apiClient(server.url, token);

  // ---- retention over many versions
  await api.post('/v1/images', { name: 'daily' });
  const meta = await uploadMetadata(api, ctx.workDir, 'daily', 'bench');
  const setup0 = nowMs();
  const jobs = await pool(streamsVersions, 32, async (n) => {
    await makeDraft(api, { image: 'daily', version: `${n}`, meta, rootSize: 4 * KIB });
    return (await api.post(`/v1/images/daily/versions/${n}/publish`, {})).body.id;
  });
  await pool(jobs.length, 8, (i) => waitForJob(api, jobs[i], { pollMs: 50 }));
  const publishS = (nowMs() - setup0) / 1000;
  log(`lifecycle setup: ${streamsVersions} versions published in ${publishS.toFixed(0)} s`);

  await webCatalogPages(ctx, server.url, token, streamsVersions);

  const t0 = nowMs();
  await api.put('/v1/images/daily/retention', { keep_latest: 1 });
  for (;;) {
    const left = await api.get('/v1/images/daily/versions?state=published&limit=2');
    if (left.body.versions.length === 1) break;
    await sleep(20);
  }
  const applyS = (nowMs() - t0) / 1000;
  const withdrawn = await api.get('/v1/images/daily/versions?state=withdrawn&limit=500');
  if (withdrawn.body.versions.length === 0) throw new Error('retention withdrew nothing');
  ctx.figure({
    id: 'lifecycle.retention.apply',
    suite: 'Lifecycle',
    title: `Applying retention (keep_latest 1) to an image with ${streamsVersions} published versions: PUT → all but one withdrawn`,
    unit: 's',
    samples: [applyS],
    reference: { name: `publishing those ${streamsVersions} versions`, samples: [publishS] },
    extra: {
      withdrawn: streamsVersions - 1,
      per_version_ms: (applyS * 1000) / (streamsVersions - 1),
    },
  });

  // ---- publish latency with and without a policy, interleaved
  await api.post('/v1/images', { name: 'plain' });
  await api.post('/v1/images', { name: 'kept' });
  await api.put('/v1/images/kept/retention', { keep_latest: 3 });
  const plainMeta = await uploadMetadata(api, ctx.workDir, 'plain', 'bench');
  const keptMeta = await uploadMetadata(api, ctx.workDir, 'kept', 'bench');
  const without = [];
  const withPolicy = [];
  for (let i = 0; i < sequentialPublishes; i++) {
    without.push(await publishTimed(api, 'plain', `1.${i}`, plainMeta));
    withPolicy.push(await publishTimed(api, 'kept', `1.${i}`, keptMeta));
  }
  const published = await api.get('/v1/images/kept/versions?state=published&limit=50');
  log(`kept: ${published.body.versions.length} published after ${sequentialPublishes} publishes`);
  ctx.figure({
    id: 'lifecycle.publish.with_policy',
    suite: 'Lifecycle',
    title: `Publish latency with a retention policy in place (keep_latest 3), p50 of ${sequentialPublishes} sequential`,
    unit: 'ms',
    samples: withPolicy,
    reference: { name: 'the same publishes without a policy', samples: without },
    target: { text: '≤ 1.1× without a policy', op: '<=', bound: 1.1 },
  });
}
