// GET of a published manifest with 8 artifacts and 16 attachments at 32 connections, and the same
// conditional GETs answered 304, each beside nginx serving the same bytes as a static file.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import {
  agent,
  apiClient,
  publishAndWait,
  randomBlob,
  uploadBuffer,
  writerToken,
} from '../lib/client.mjs';
import { load } from '../lib/load.mjs';
import { startNginx } from '../lib/procs.mjs';
import { KIB } from '../lib/util.mjs';

async function getRaw(url, headers = {}) {
  const res = await request(url, { dispatcher: agent, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, etag: res.headers.etag, body };
}

export async function catalogSuite(ctx) {
  const { loadSeconds, loadRuns } = ctx.settings;
  const group = await ctx.group('catalog');
  const server = await group.start('api');
  const token = await writerToken(server.url, group.bootstrapToken);
  const api = apiClient(server.url, token);
  await api.post('/v1/images', {
    name: 'manifest',
    description: 'eight artifacts, sixteen attachments',
  });
  await api.post('/v1/images/manifest/versions', { version: '1.0' });
  const base = '/v1/images/manifest/versions/1.0';
  const combos = [];
  for (const architecture of ['x86_64', 'aarch64'])
    for (const format of ['qcow2', 'squashfs'])
      for (const variant of ['default', 'cloud']) combos.push({ architecture, format, variant });
  for (const c of combos) {
    const primary = await uploadBuffer(api, randomBlob(64 * KIB));
    const artifact = (
      await api.post(`${base}/artifacts`, {
        variant: c.variant,
        operating_system: 'debian',
        architecture: c.architecture,
        format: c.format,
        primary_blob_digest: primary.digest,
        primary_blob_size_bytes: primary.size,
        primary_media_type: 'application/octet-stream',
      })
    ).body;
    for (const name of ['sbom.spdx.json', 'SHA256SUMS.asc']) {
      const blob = await uploadBuffer(api, randomBlob(2 * KIB));
      await api.post(`${base}/artifacts/${artifact.id}/attachments`, {
        name,
        media_type: 'application/octet-stream',
        blob_digest: blob.digest,
        blob_size_bytes: blob.size,
      });
    }
  }
  await publishAndWait(api, 'manifest', '1.0', { pollMs: 20 });
  const manifest = (await api.get(base)).body;
  const attachments = manifest.artifacts.reduce((n, a) => n + a.attachments.length, 0);
  if (manifest.artifacts.length !== 8 || attachments !== 16)
    throw new Error(
      `manifest has ${manifest.artifacts.length} artifacts, ${attachments} attachments`,
    );

  // nginx serves the same bytes as a static file.
  const served = await getRaw(`${server.url}${base}`);
  const root = join(ctx.workDir, 'manifest-static');
  const dir = join(root, 'v1', 'images', 'manifest', 'versions');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, '1.0'), served.body);
  const nginx = await startNginx({ root, workDir: join(ctx.workDir, 'manifest-nginx') });
  ctx.onCleanup(() => nginx.stop());
  const nginxDoc = await getRaw(`${nginx.url}${base}`);
  if (!nginxDoc.body.equals(served.body)) throw new Error('nginx does not serve the same bytes');
  if ((await getRaw(`${server.url}${base}`, { 'if-none-match': served.etag })).status !== 304)
    throw new Error('the manifest GET does not answer 304 to its own ETag');

  const runs = [];
  const theirs = [];
  const mine304 = [];
  const theirs304 = [];
  for (let r = 0; r < loadRuns; r++) {
    theirs.push(await load({ url: `${nginx.url}${base}`, seconds: loadSeconds }));
    runs.push(await load({ url: `${server.url}${base}`, seconds: loadSeconds }));
    theirs304.push(
      await load({
        url: `${nginx.url}${base}`,
        seconds: loadSeconds,
        headers: { 'if-none-match': nginxDoc.etag },
        expectStatus: 304,
      }),
    );
    mine304.push(
      await load({
        url: `${server.url}${base}`,
        seconds: loadSeconds,
        headers: { 'if-none-match': served.etag },
        expectStatus: 304,
      }),
    );
  }
  ctx.figure({
    id: 'catalog.manifest.rps',
    suite: 'Catalog',
    title: `GET of a published manifest (8 artifacts, 16 attachments; ${served.body.length} bytes), 32 connections: requests/s`,
    unit: 'req/s',
    better: 'higher',
    samples: runs.map((r) => r.rps),
    reference: {
      name: 'nginx serving the same bytes as a static file',
      short: 'nginx',
      samples: theirs.map((r) => r.rps),
    },
    target: { text: '≥ 0.5× nginx', op: '>=', bound: 0.5 },
    extra: {
      load: 'manifest GET',
      p99_ms: runs.map((r) => r.p99),
      p50_ms: runs.map((r) => r.p50),
      reference_p99_ms: theirs.map((r) => r.p99),
    },
  });
  ctx.figure({
    id: 'catalog.manifest.p99',
    suite: 'Catalog',
    title: 'GET of a published manifest (8 artifacts, 16 attachments), 32 connections: p99 latency',
    unit: 'ms',
    samples: runs.map((r) => r.p99),
    reference: { name: 'nginx', samples: theirs.map((r) => r.p99) },
  });
  ctx.figure({
    id: 'catalog.manifest.304.rps',
    suite: 'Catalog',
    title: 'Conditional GET of the published manifest answered 304, 32 connections: requests/s',
    unit: 'req/s',
    better: 'higher',
    samples: mine304.map((r) => r.rps),
    reference: { name: 'nginx 304s', short: 'nginx', samples: theirs304.map((r) => r.rps) },
    target: { text: '≥ 0.8× nginx', op: '>=', bound: 0.8 },
    extra: {
      load: 'manifest 304',
      p99_ms: mine304.map((r) => r.p99),
      reference_p99_ms: theirs304.map((r) => r.p99),
    },
  });
  await group.stop();
}
