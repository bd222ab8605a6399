// images.json with 1,000 published versions (2,000 images) and 300 aliases: requests/s and p99 at
// 32 connections against nginx serving the same bytes as a static file; 304s likewise; time to
// first render after a publish; the server's peak memory throughout.
import { mkdir, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { agent, apiClient, waitForJob, writerToken } from '../lib/client.mjs';
import { makeDraft, pool, uploadMetadata } from '../lib/images.mjs';
import { load } from '../lib/load.mjs';
import { sampleRss, startBareNode, startNginx, sumMetric } from '../lib/procs.mjs';
import { KIB, log, MIB, nowMs, sleep } from '../lib/util.mjs';

const IMAGES = 10;
/** What IMGSRV_HTTP_PROCESSES=auto starts: one API process per CPU, as nginx's `worker_processes auto`. */
const HTTP_PROCESSES = availableParallelism();

/**
 * GETs a document on `n` new connections, so that each of a supervisor's API processes (they take
 * connections in turn) has rendered the current revision before a measurement starts.
 */
async function warmUp(url, n) {
  for (let i = 0; i < n; i++) {
    await new Promise((resolve, reject) => {
      httpGet(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
  }
}

async function getTimed(url, headers = {}) {
  const t0 = nowMs();
  const res = await request(url, { dispatcher: agent, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { ms: nowMs() - t0, status: res.statusCode, etag: res.headers.etag, body };
}

export async function streamsSuite(ctx) {
  const { streamsVersions, streamsAliases, loadSeconds, loadRuns, renderRuns } = ctx.settings;
  const group = await ctx.group('streams');
  // The default layout: one process, API and worker.
  const server = await group.start('api', { env: { IMGSRV_WORKER_CONCURRENCY: '8' } });
  const rss = sampleRss(server.pid, 100);
  const api = apiClient(server.url, await writerToken(server.url, group.bootstrapToken));
  const perImage = Math.ceil(streamsVersions / IMAGES);
  const metas = [];
  for (let i = 0; i < IMAGES; i++) {
    const image = `distro${i}`;
    await api.post('/v1/images', { name: image, description: `benchmark image ${i}` });
    metas.push(await uploadMetadata(api, ctx.workDir, image, 'bench'));
  }
  const setup0 = nowMs();
  const jobs = await pool(streamsVersions, 32, async (n) => {
    const i = n % IMAGES;
    const version = `${Math.floor(n / IMAGES)}.0`;
    await makeDraft(api, { image: `distro${i}`, version, meta: metas[i], rootSize: 4 * KIB });
    return (await api.post(`/v1/images/distro${i}/versions/${version}/publish`, {})).body.id;
  });
  await pool(jobs.length, 8, (i) => waitForJob(api, jobs[i], { pollMs: 50 }));
  const aliasesPerImage = Math.ceil(streamsAliases / IMAGES);
  await pool(IMAGES * aliasesPerImage, 8, async (n) => {
    const i = n % IMAGES;
    const a = Math.floor(n / IMAGES);
    await api.put(`/v1/images/distro${i}/aliases/a${a}`, { version: `${(a * 7) % perImage}.0` });
  });
  const setupS = (nowMs() - setup0) / 1000;
  log(
    `streams setup: ${streamsVersions} versions, ${IMAGES * aliasesPerImage} aliases in ${setupS.toFixed(0)} s`,
  );

  // Time to first render: publish one more version, then the first GET renders the new revision.
  const renders = [];
  const cached = [];
  const publishToVisible = [];
  for (let r = 0; r < renderRuns; r++) {
    const version = `extra.${r}`;
    await makeDraft(api, { image: 'distro0', version, meta: metas[0], rootSize: 4 * KIB });
    const t0 = nowMs();
    const job = (await api.post(`/v1/images/distro0/versions/${version}/publish`, {})).body;
    await waitForJob(api, job.id, { pollMs: 2 });
    const before = sumMetric(await server.metrics(), 'imgsrv_streams_renders_total');
    const first = await getTimed(`${server.url}/streams/v1/images.json`);
    publishToVisible.push(nowMs() - t0);
    const after = sumMetric(await server.metrics(), 'imgsrv_streams_renders_total');
    if (after !== before + 1) throw new Error(`expected one render, saw ${after - before}`);
    if (!first.body.includes(`"distro0/${version}"`))
      throw new Error(`images.json lacks distro0/${version}`);
    renders.push(first.ms);
    cached.push((await getTimed(`${server.url}/streams/v1/images.json`)).ms);
  }
  const doc = await getTimed(`${server.url}/streams/v1/images.json`);
  const parsed = JSON.parse(doc.body.toString());
  const products = Object.keys(parsed.products).length;
  let images = 0;
  let aliases = 0;
  for (const p of Object.values(parsed.products)) {
    for (const v of Object.values(p.versions))
      images += Object.keys(v.items).filter((k) => k !== 'incus.tar.xz').length;
    aliases += (p.aliases ?? '').split(',').filter(Boolean).length;
  }
  ctx.figure({
    id: 'streams.render.first',
    suite: 'Streams',
    title: `Time to first render of images.json after a publish (${products} products, ${(doc.body.length / MIB).toFixed(1)} MiB)`,
    unit: 'ms',
    samples: renders,
    reference: { name: 'the next, cached GET', samples: cached },
    extra: { publish_request_to_visible_ms: publishToVisible },
  });

  // nginx serves the same bytes as a static file.
  const root = join(ctx.workDir, 'static');
  await mkdir(join(root, 'streams', 'v1'), { recursive: true });
  await writeFile(join(root, 'streams', 'v1', 'images.json'), doc.body);
  const nginx = await startNginx({ root, workDir: join(ctx.workDir, 'streams-nginx') });
  ctx.onCleanup(() => nginx.stop());
  const nginxDoc = await getTimed(`${nginx.url}/streams/v1/images.json`);
  if (!nginxDoc.body.equals(doc.body)) throw new Error('nginx does not serve the same bytes');

  const mine = [];
  const theirs = [];
  const load304 = (url, etag) =>
    load({ url, seconds: loadSeconds, headers: { 'if-none-match': etag }, expectStatus: 304 });
  const mine304 = [];
  const theirs304 = [];
  const bare = await startBareNode({ etag: doc.etag });
  const bare304 = [];
  for (let r = 0; r < loadRuns; r++) {
    theirs.push(await load({ url: `${nginx.url}/streams/v1/images.json`, seconds: loadSeconds }));
    mine.push(await load({ url: `${server.url}/streams/v1/images.json`, seconds: loadSeconds }));
    theirs304.push(await load304(`${nginx.url}/streams/v1/images.json`, nginxDoc.etag));
    mine304.push(await load304(`${server.url}/streams/v1/images.json`, doc.etag));
    bare304.push(await load304(`${bare.url}/streams/v1/images.json`, doc.etag));
  }
  await bare.stop();
  const mem = await rss.stop();
  const what = `${streamsVersions + renderRuns} versions, ${images} images, ${IMAGES * aliasesPerImage} aliases; ${aliases} alias names in the document`;
  ctx.figure({
    id: 'streams.images.rps',
    suite: 'Streams',
    title: `GET images.json (${what}), 32 connections: requests/s`,
    unit: 'req/s',
    better: 'higher',
    samples: mine.map((r) => r.rps),
    reference: {
      name: 'nginx serving the same file',
      short: 'nginx',
      samples: theirs.map((r) => r.rps),
    },
    target: { text: '≥ 0.5× nginx', op: '>=', bound: 0.5 },
    extra: {
      load: 'images.json 200',
      p99_ms: mine.map((r) => r.p99),
      reference_p99_ms: theirs.map((r) => r.p99),
      document_bytes: doc.body.length,
    },
  });
  ctx.figure({
    id: 'streams.images.p99',
    suite: 'Streams',
    title: `GET images.json, 32 connections: p99 latency`,
    unit: 'ms',
    samples: mine.map((r) => r.p99),
    reference: { name: 'nginx', samples: theirs.map((r) => r.p99) },
  });
  ctx.figure({
    id: 'streams.images.304.rps',
    suite: 'Streams',
    title: 'Conditional GET images.json answered 304, 32 connections: requests/s',
    unit: 'req/s',
    better: 'higher',
    samples: mine304.map((r) => r.rps),
    reference: { name: 'nginx 304s', short: 'nginx', samples: theirs304.map((r) => r.rps) },
    target: { text: '≥ 0.8× nginx', op: '>=', bound: 0.8 },
    extra: {
      load: 'images.json 304',
      p99_ms: mine304.map((r) => r.p99),
      reference_p99_ms: theirs304.map((r) => r.p99),
    },
  });
  ctx.figure({
    id: 'streams.images.304.rps.node',
    suite: 'Streams',
    title:
      "The same 304s from Node's HTTP server alone (node:http answering with the same headers, " +
      'nothing else: the ceiling of any server on it here), 32 connections: requests/s',
    unit: 'req/s',
    better: 'higher',
    samples: bare304.map((r) => r.rps),
    reference: { name: 'nginx 304s', short: 'nginx', samples: theirs304.map((r) => r.rps) },
    extra: {
      load: 'images.json 304',
      imgsrv_over_bare_node: mine304.map((r, i) => r.rps / bare304[i].rps),
    },
  });
  ctx.figure({
    id: 'streams.rss_peak',
    suite: 'Streams',
    title: `Server peak resident memory through the ${streamsVersions}-version streams run (setup, renders, load)`,
    unit: 'MiB',
    samples: [mem.peak / MIB],
    extra: { baseline_mib: mem.baseline / MIB, setup_s: setupS },
  });

  // The same 304s from one API process per CPU (IMGSRV_HTTP_PROCESSES=auto) on the same database,
  // against nginx with `worker_processes auto`: more processes than cores once the load generator
  // takes its share, so shown, not targeted.
  const multi = await group.start('api-multi', {
    roles: 'api',
    env: { IMGSRV_HTTP_PROCESSES: 'auto' },
  });
  await warmUp(`${multi.url}/streams/v1/images.json`, 2 * HTTP_PROCESSES);
  const multi304 = [];
  const theirsAgain304 = [];
  for (let r = 0; r < loadRuns; r++) {
    theirsAgain304.push(await load304(`${nginx.url}/streams/v1/images.json`, nginxDoc.etag));
    multi304.push(await load304(`${multi.url}/streams/v1/images.json`, doc.etag));
  }
  ctx.figure({
    id: 'streams.images.304.rps.processes',
    suite: 'Streams',
    title: `The same 304s with IMGSRV_HTTP_PROCESSES=auto (${HTTP_PROCESSES} API processes, one per CPU; nginx with worker_processes auto; the load generator shares the CPUs): requests/s`,
    unit: 'req/s',
    better: 'higher',
    samples: multi304.map((r) => r.rps),
    reference: {
      name: 'nginx 304s (worker_processes auto)',
      short: 'nginx',
      samples: theirsAgain304.map((r) => r.rps),
    },
    extra: {
      load: 'images.json 304',
      http_processes: HTTP_PROCESSES,
      p99_ms: multi304.map((r) => r.p99),
      reference_p99_ms: theirsAgain304.map((r) => r.p99),
    },
  });
  await nginx.stop();
  await group.stop();
  await sleep(0);
}
