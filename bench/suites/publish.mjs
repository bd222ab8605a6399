// Publish latency (request → succeeded) over sequential publishes, the same with five webhook
// subscriptions against none, and many versions published at once with two worker processes.
import { spawn } from 'node:child_process';
import { apiClient, waitForJob, writerToken } from '../lib/client.mjs';
import { makeDraft, pool, uploadMetadata } from '../lib/images.mjs';
import { sumMetric } from '../lib/procs.mjs';
import { log, MIB, nowMs, quantile, sleep } from '../lib/util.mjs';

/** A webhook receiver answering 204 to every delivery; GET /count says how many it received. */
const RECEIVER = `
const server = require('node:http').createServer((req, res) => {
  if (req.method === 'GET') return res.end(String(received));
  req.resume();
  req.on('end', () => { received++; res.writeHead(204).end(); });
});
let received = 0;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

export async function publishSuite(ctx) {
  const { sequentialPublishes, concurrentPublishes } = ctx.settings;

  // ---- sequential: one process (API + worker), as `npm start` runs it
  const seq = await ctx.group('publish-seq');
  const server = await seq.start('api');
  const api = apiClient(server.url, await writerToken(server.url, seq.bootstrapToken));
  await api.post('/v1/images', { name: 'seq' });
  const meta = await uploadMetadata(api, ctx.workDir, 'seq', 'bench');
  const latencies = [];
  const stepMs = { validate_catalog: [], incus_index: [], finalize_publish: [] };
  for (let i = 0; i < sequentialPublishes; i++) {
    const version = `1.${i}`;
    await makeDraft(api, { image: 'seq', version, meta, rootSize: MIB });
    const t0 = nowMs();
    const start = await api.post(`/v1/images/seq/versions/${version}/publish`, {});
    const job = await waitForJob(api, start.body.id, { pollMs: 2 });
    latencies.push(nowMs() - t0);
    for (const s of job.steps)
      stepMs[s.name]?.push(Date.parse(s.finished_at) - Date.parse(s.started_at));
  }
  ctx.figure({
    id: 'publish.latency.sequential',
    suite: 'Publish',
    title: `Publish latency, request → succeeded, version with two 1 MiB artifacts (p50 of ${sequentialPublishes} sequential)`,
    unit: 'ms',
    samples: latencies,
    extra: {
      all_ms: latencies,
      p90_ms: quantile(latencies, 0.9),
      p99_ms: quantile(latencies, 0.99),
      min_ms: Math.min(...latencies),
      max_ms: Math.max(...latencies),
      median_step_ms: Object.entries(stepMs)
        .map(([k, v]) => `${k} ${quantile(v, 0.5).toFixed(0)}`)
        .join(', '),
    },
  });
  await seq.stop();

  await webhookOverhead(ctx);

  // ---- concurrent: one API process and two worker processes sharing PostgreSQL and Redis
  const conc = await ctx.group('publish-conc');
  const apiProc = await conc.start('api', { roles: 'api' });
  const workers = [
    await conc.start('worker-1', { roles: 'worker' }),
    await conc.start('worker-2', { roles: 'worker' }),
  ];
  const capi = apiClient(apiProc.url, await writerToken(apiProc.url, conc.bootstrapToken));
  await capi.post('/v1/images', { name: 'conc' });
  const cmeta = await uploadMetadata(capi, ctx.workDir, 'conc', 'bench');
  const totals = [];
  const acceptedMs = [];
  const { loadRuns } = ctx.settings;
  for (let r = 0; r < loadRuns; r++) {
    await pool(concurrentPublishes, 8, (i) =>
      makeDraft(capi, { image: 'conc', version: `2.${r}.${i}`, meta: cmeta, rootSize: MIB }),
    );
    log(`${concurrentPublishes} drafts ready; publishing them at once (${r + 1}/${loadRuns})`);
    const t0 = nowMs();
    const jobs = await Promise.all(
      Array.from({ length: concurrentPublishes }, (_, i) =>
        capi.post(`/v1/images/conc/versions/2.${r}.${i}/publish`, {}).then((res) => res.body.id),
      ),
    );
    acceptedMs.push(nowMs() - t0);
    await conc.pg(async (db) => {
      for (;;) {
        const { rows } = await db.query(
          `SELECT count(*) FILTER (WHERE state = 'succeeded')::int AS ok,
                  count(*) FILTER (WHERE state IN ('failed', 'cancelled'))::int AS bad
             FROM publish_job WHERE id = ANY($1::uuid[])`,
          [jobs],
        );
        if (rows[0].bad) throw new Error(`${rows[0].bad} concurrent publishes failed`);
        if (rows[0].ok === jobs.length) return;
        await sleep(10);
      }
    });
    totals.push((nowMs() - t0) / 1000);
  }
  const perWorker = [];
  for (const w of workers)
    perWorker.push(
      sumMetric(
        await w.metrics(),
        'imgsrv_publish_step_runs_total',
        (l) => l.outcome === 'succeeded',
      ),
    );
  ctx.figure({
    id: 'publish.concurrent.total',
    suite: 'Publish',
    title: `${concurrentPublishes} versions (two 1 MiB artifacts each) published at once with two worker processes: total time`,
    unit: 's',
    samples: totals,
    extra: {
      publishes_per_s: totals.map((t) => concurrentPublishes / t),
      all_accepted_after_ms: acceptedMs,
      steps_succeeded_per_worker: perWorker.join(' / '),
    },
  });
  if (perWorker.some((n) => n === 0))
    ctx.note(`a worker ran no publish step in the concurrent runs (${perWorker.join(' / ')})`);
  await conc.stop();
}

/**
 * Publish latency with five webhook subscriptions (each gets a signed version.published) against
 * none, in one process (API + worker) as `npm start` runs it. Interleaved: the subscriptions are
 * enabled for every other publish, and each publish with them waits until the five deliveries
 * to a receiver on loopback (answering 204) ended, so no delivery overlaps the next publish.
 */
async function webhookOverhead(ctx) {
  const runs = ctx.settings.sequentialPublishes;
  // The receiver runs in a process of its own, as a real one runs on another machine: in the
  // bench's process its five requests per publish would delay the very polls that time it.
  const receiver = spawn(process.execPath, ['-e', RECEIVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  ctx.onCleanup(() => receiver.kill());
  const port = await new Promise((resolve, reject) => {
    receiver.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim())));
    receiver.once('exit', (code) => reject(new Error(`the webhook receiver exited (${code})`)));
  });
  const receivedCount = async () =>
    Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text());
  const hookUrl = `http://127.0.0.1:${port}/hook`;

  const group = await ctx.group('publish-webhooks', {
    env: { IMGSRV_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' },
  });
  const server = await group.start('api');
  const api = apiClient(server.url, await writerToken(server.url, group.bootstrapToken));
  const admin = apiClient(server.url, group.bootstrapToken);
  const hooks = [];
  for (let i = 0; i < 5; i++)
    hooks.push(
      (await admin.post('/v1/webhooks', { url: `${hookUrl}/${i}`, events: ['version.published'] }))
        .body.id,
    );
  const setHooks = (enabled) =>
    Promise.all(
      hooks.map((id, i) =>
        admin.put(`/v1/webhooks/${id}`, {
          url: `${hookUrl}/${i}`,
          events: ['version.published'],
          enabled,
        }),
      ),
    );
  await api.post('/v1/images', { name: 'hooked' });
  const meta = await uploadMetadata(api, ctx.workDir, 'hooked', 'bench');
  const latencies = { with: [], without: [] };
  for (let i = 0; i < 2 * runs; i++) {
    const mode = i % 2 === 0 ? 'without' : 'with';
    await setHooks(mode === 'with');
    const version = `3.${i}`;
    await makeDraft(api, { image: 'hooked', version, meta, rootSize: MIB });
    const t0 = nowMs();
    const start = await api.post(`/v1/images/hooked/versions/${version}/publish`, {});
    await waitForJob(api, start.body.id, { pollMs: 2 });
    latencies[mode].push(nowMs() - t0);
    if (mode === 'with')
      await group.pg(async (db) => {
        for (;;) {
          const { rows } = await db.query(
            `SELECT count(*) FILTER (WHERE state IN ('pending', 'running'))::int AS open,
                    count(*) FILTER (WHERE state IN ('failed', 'cancelled'))::int AS bad
               FROM webhook_delivery`,
          );
          if (rows[0].bad) throw new Error(`${rows[0].bad} webhook deliveries failed`);
          if (rows[0].open === 0) return;
          await sleep(5);
        }
      });
  }
  const delivered = await group.pg(
    async (db) =>
      (await db.query(`SELECT count(*)::int AS n FROM webhook_delivery WHERE state = 'succeeded'`))
        .rows[0].n,
  );
  const received = await receivedCount();
  if (delivered !== 5 * runs || received !== 5 * runs)
    throw new Error(`expected ${5 * runs} deliveries, got ${delivered} (${received} received)`);
  ctx.figure({
    id: 'publish.latency.webhooks',
    suite: 'Publish',
    title: `Publish latency with five webhook subscriptions, request → succeeded (p50 of ${runs}, interleaved with as many without)`,
    unit: 'ms',
    samples: latencies.with,
    reference: { name: 'no subscriptions', short: 'none', samples: latencies.without },
    target: { text: '≤ 1.1× without', op: '<=', bound: 1.1 },
    extra: {
      all_ms: latencies.with,
      without_all_ms: latencies.without,
      p90_ms: quantile(latencies.with, 0.9),
      without_p90_ms: quantile(latencies.without, 0.9),
      deliveries: delivered,
    },
  });
  await group.stop();
}
