// GET of a published manifest with 8 artifacts and 16 attachments at 32 connections.
import {
  apiClient,
  publishAndWait,
  randomBlob,
  uploadBuffer,
  writerToken,
} from '../lib/client.mjs';
import { load } from '../lib/load.mjs';
import { KIB } from '../lib/util.mjs';

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

  const runs = [];
  for (let r = 0; r < loadRuns; r++)
    runs.push(await load({ url: `${server.url}${base}`, seconds: loadSeconds }));
  ctx.figure({
    id: 'catalog.manifest.rps',
    suite: 'Catalog',
    title: 'GET of a published manifest (8 artifacts, 16 attachments), 32 connections: requests/s',
    unit: 'req/s',
    better: 'higher',
    samples: runs.map((r) => r.rps),
    extra: { load: 'manifest GET', p99_ms: runs.map((r) => r.p99), p50_ms: runs.map((r) => r.p50) },
  });
  ctx.figure({
    id: 'catalog.manifest.p99',
    suite: 'Catalog',
    title: 'GET of a published manifest (8 artifacts, 16 attachments), 32 connections: p99 latency',
    unit: 'ms',
    samples: runs.map((r) => r.p99),
  });
  await group.stop();
}
