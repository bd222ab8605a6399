// Big-file figures: upload (fs and s3) against `openssl dgst -sha256` (sha256sum beside it) and a direct SDK multipart upload, download
// against nginx and a direct GET from s3rver, incus_index hashing against sha256sum, and the
// server's resident memory while it moves a whole large blob.
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  apiClient,
  digestOf,
  publishAndWait,
  uploadBuffer,
  uploadFile,
  writerToken,
} from '../lib/client.mjs';
import { makeIncusMetadata, mutateHead, writeRandomFile } from '../lib/context.mjs';
import { ROOT, sampleRss, startNginx, startS3rver } from '../lib/procs.mjs';
import {
  fmtBytes,
  KIB,
  log,
  median,
  MIB,
  nowMs,
  quantile,
  run,
  timeCommand,
  timed,
} from '../lib/util.mjs';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

const PART = 64 * MIB;

async function sha256sum(file) {
  const { ms, stdout } = await timeCommand('sha256sum', [file]);
  return { ms, digest: `sha256:${stdout.split(' ')[0]}` };
}

/**
 * `openssl dgst -sha256`: the hashing reference. It runs the same OpenSSL SHA-256 as Node (with
 * the CPU's SHA instructions), where coreutils' sha256sum has none.
 */
async function opensslSha256(file) {
  const { ms, stdout } = await timeCommand('openssl', ['dgst', '-sha256', '-r', file]);
  return { ms, digest: `sha256:${stdout.split(' ')[0]}` };
}

/**
 * The same file written durably to the same disk (`dd bs=64M conv=fsync`): what storing it costs
 * on this machine before any hashing or HTTP, beside the hashing reference.
 */
async function durableCopy(file, to) {
  const { ms } = await timeCommand('dd', [
    `if=${file}`,
    `of=${to}`,
    'bs=64M',
    'conv=fsync',
    'status=none',
  ]);
  await rm(to, { force: true });
  return ms;
}

/** curl's own timing of a whole download to /dev/null; checks status and size. */
async function curlDownload(url, size) {
  const { stdout } = await run('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{size_download} %{time_total}',
    url,
  ]);
  const [code, bytes, seconds] = stdout.trim().split(' ');
  if (code !== '200' || Number(bytes) !== size)
    throw new Error(`GET ${url}: ${code}, ${bytes} bytes (expected 200, ${size})`);
  return Number(seconds) * 1000;
}

const throughput = (size, ms) => size / MIB / (ms / 1000);

async function publishBig(api, { image, version, digest, size, format, meta }) {
  await api.post(`/v1/images/${image}/versions`, { version });
  const artifact = (
    await api.post(`/v1/images/${image}/versions/${version}/artifacts`, {
      operating_system: 'benchos',
      architecture: 'x86_64',
      format,
      primary_blob_digest: digest,
      primary_blob_size_bytes: size,
      primary_media_type: 'application/octet-stream',
    })
  ).body;
  if (meta) {
    await api.post(`/v1/images/${image}/versions/${version}/artifacts/${artifact.id}/attachments`, {
      name: 'incus.tar.xz',
      media_type: 'application/x-xz',
      blob_digest: meta.digest,
      blob_size_bytes: meta.size,
    });
  }
  const job = await publishAndWait(api, image, version, { pollMs: 20 });
  return {
    artifact,
    job,
    downloadPath: `/v1/images/${image}/versions/${version}/artifacts/${artifact.id}/download`,
  };
}

export async function bulkSuite(ctx) {
  const { bigSize: size, runs } = ctx.settings;
  const bigDir = join(ctx.workDir, 'big');
  await mkdir(bigDir, { recursive: true });
  const file = join(bigDir, 'big.bin');
  log(`writing a ${fmtBytes(size)} random file`);
  await writeRandomFile(file, size);
  const nginx = await startNginx({ root: bigDir, workDir: ctx.workDir });
  ctx.onCleanup(() => nginx.stop());

  // ---- fs store: upload, incus_index, download
  const fsGroup = await ctx.group('bulk-fs');
  const server = await fsGroup.start('api');
  const api = apiClient(server.url, await writerToken(server.url, fsGroup.bootstrapToken));
  const shaMs = [];
  const opensslMs = [];
  const ddMs = [];
  const uploadMs = [];
  const uploadRss = [];
  let digest;
  // One 64 MiB upload first, so the memory figure measures the big uploads and not what a
  // process sets up once (its hashing thread, the store's first files).
  const warmFile = join(bigDir, 'warm-up.bin');
  await writeRandomFile(warmFile, 64 * MIB);
  const warm = await sha256sum(warmFile);
  await uploadFile(api, warmFile, { digest: warm.digest, size: 64 * MIB, partSize: PART });
  await rm(warmFile, { force: true });
  for (let r = 0; r < runs; r++) {
    await mutateHead(file);
    const ref = await sha256sum(file);
    const openssl = await opensslSha256(file);
    if (openssl.digest !== ref.digest) throw new Error('openssl and sha256sum disagree');
    ddMs.push(await durableCopy(file, join(bigDir, 'dd-copy.bin')));
    digest = ref.digest;
    shaMs.push(ref.ms);
    opensslMs.push(openssl.ms);
    const sampler = sampleRss(server.pid);
    const { ms } = await timed(() => uploadFile(api, file, { digest, size, partSize: PART }));
    const mem = await sampler.stop();
    uploadMs.push(ms);
    uploadRss.push(mem);
    log(
      `fs upload ${r + 1}/${runs}: ${(ms / 1000).toFixed(2)} s (openssl ${(openssl.ms / 1000).toFixed(2)} s, sha256sum ${(ref.ms / 1000).toFixed(2)} s, dd conv=fsync ${(ddMs.at(-1) / 1000).toFixed(2)} s), RSS +${fmtBytes(mem.growth)}`,
    );
  }
  ctx.figure({
    id: 'cas.upload.fs',
    suite: 'CAS',
    title: `Upload ${fmtBytes(size)} in 64 MiB parts to the fs store, begin → ready`,
    unit: 's',
    samples: uploadMs.map((ms) => ms / 1000),
    reference: {
      name: '`openssl dgst -sha256` of the same file',
      short: 'openssl',
      samples: opensslMs.map((ms) => ms / 1000),
    },
    target: { text: '≤ 1.5× openssl dgst -sha256', op: '<=', bound: 1.5 },
    extra: {
      throughput_mib_s: uploadMs.map((ms) => throughput(size, ms)),
      reference_throughput_mib_s: opensslMs.map((ms) => throughput(size, ms)),
      sha256sum_s: shaMs.map((ms) => ms / 1000),
      ratio_to_sha256sum: median(uploadMs) / median(shaMs),
      durable_copy_s: ddMs.map((ms) => ms / 1000),
      ratio_to_durable_copy: median(uploadMs) / median(ddMs),
    },
  });
  ctx.figure({
    id: 'cas.upload.fs.rss_growth',
    suite: 'CAS',
    title: `Server resident memory growth during the ${fmtBytes(size)} fs upload`,
    unit: 'MiB',
    samples: uploadRss.map((m) => m.growth / MIB),
    target: { text: '< 64 MiB in every run', op: '<=', bound: 64, of: 'max' },
    extra: {
      peak_rss_mib: uploadRss.map((m) => m.peak / MIB),
      baseline_rss_mib: uploadRss.map((m) => m.baseline / MIB),
    },
  });

  await cliPush(ctx, { server, bootstrap: fsGroup.bootstrapToken, file, size, bigDir, runs });
  await smallBlobs(ctx, api);

  // incus_index: publish versions whose qcow2 is the big blob, each hashing it again: the pair's
  // recorded fingerprint (incus_fingerprint), which would spare the hashing, is removed first.
  const metaFile = await makeIncusMetadata(bigDir, { os: 'benchos', release: 'bulk' });
  const metaBytes = await readFile(metaFile);
  const meta = await uploadBuffer(api, metaBytes);
  await api.post('/v1/images', { name: 'bulk' });
  const indexMs = [];
  let downloadPath;
  for (let r = 0; r < runs; r++) {
    await fsGroup.pg((c) => c.query('DELETE FROM incus_fingerprint'));
    const published = await publishBig(api, {
      image: 'bulk',
      version: `v${r + 1}`,
      digest,
      size,
      format: 'qcow2',
      meta,
    });
    downloadPath ??= published.downloadPath;
    const step = published.job.steps.find((s) => s.name === 'incus_index');
    const ms = Date.parse(step.finished_at) - Date.parse(step.started_at);
    indexMs.push(ms);
    log(`incus_index ${r + 1}/${runs}: ${(ms / 1000).toFixed(2)} s`);
  }
  // Beside it: the same publish with the pair's fingerprint recorded (as after the runs above).
  const recorded = await publishBig(api, {
    image: 'bulk',
    version: `v${runs + 1}`,
    digest,
    size,
    format: 'qcow2',
    meta,
  });
  const recordedStep = recorded.job.steps.find((s) => s.name === 'incus_index');
  const recordedMs = Date.parse(recordedStep.finished_at) - Date.parse(recordedStep.started_at);
  log(`incus_index with the fingerprint recorded: ${recordedMs} ms`);
  const hashed = size + meta.size;
  ctx.figure({
    id: 'publish.incus_index.throughput',
    suite: 'Publish',
    title: `incus_index hashing of a ${fmtBytes(size)} qcow2 with its metadata tarball`,
    unit: 'MiB/s',
    better: 'higher',
    samples: indexMs.map((ms) => throughput(hashed, ms)),
    reference: {
      name: 'sha256sum of the same bytes',
      samples: shaMs.map((ms) => throughput(size, ms)),
    },
    target: { text: '≥ 0.7× sha256sum', op: '>=', bound: 0.7 },
    extra: {
      openssl_mib_s: opensslMs.map((ms) => throughput(size, ms)),
      recorded_fingerprint_ms: [recordedMs],
    },
  });

  const dlMs = [];
  const nginxMs = [];
  const dlRss = [];
  for (let r = 0; r < runs; r++) {
    nginxMs.push(await curlDownload(`${nginx.url}/big.bin`, size));
    const sampler = sampleRss(server.pid);
    dlMs.push(await curlDownload(`${server.url}${downloadPath}`, size));
    dlRss.push(await sampler.stop());
  }
  ctx.figure({
    id: 'catalog.download.fs',
    suite: 'Catalog',
    title: `curl download of a ${fmtBytes(size)} published artifact, fs store`,
    unit: 's',
    samples: dlMs.map((ms) => ms / 1000),
    reference: {
      name: 'nginx serving the same file from disk',
      samples: nginxMs.map((ms) => ms / 1000),
    },
    target: { text: '≤ 1.25× nginx', op: '<=', bound: 1.25 },
    extra: {
      throughput_mib_s: dlMs.map((ms) => throughput(size, ms)),
      reference_throughput_mib_s: nginxMs.map((ms) => throughput(size, ms)),
    },
  });
  ctx.figure({
    id: 'catalog.download.fs.rss_peak',
    suite: 'Catalog',
    title: `Server peak resident memory during the ${fmtBytes(size)} download (growth in extra)`,
    unit: 'MiB',
    samples: dlRss.map((m) => m.peak / MIB),
    extra: { growth_mib: dlRss.map((m) => m.growth / MIB) },
  });
  ctx.figure({
    id: 'cas.upload.fs.rss_peak',
    suite: 'CAS',
    title: `Server peak resident memory during the ${fmtBytes(size)} fs upload`,
    unit: 'MiB',
    samples: uploadRss.map((m) => m.peak / MIB),
  });
  await fsGroup.stop();

  // ---- s3 store against s3rver: upload beside a direct SDK multipart upload, download beside a
  // direct GET.
  const s3 = await startS3rver({ workDir: ctx.workDir, buckets: ['imgsrv', 'direct'] });
  ctx.onCleanup(() => s3.stop());
  const s3Group = await ctx.group('bulk-s3', {
    env: {
      IMGSRV_BLOB_STORE: 's3',
      IMGSRV_S3_ENDPOINT: s3.endpoint,
      IMGSRV_S3_BUCKET: 'imgsrv',
      IMGSRV_S3_ACCESS_KEY_ID: s3.accessKeyId,
      IMGSRV_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    },
  });
  const s3Server = await s3Group.start('api');
  const s3Api = apiClient(s3Server.url, await writerToken(s3Server.url, s3Group.bootstrapToken));
  const sdk = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const s3UploadMs = [];
  const sdkMs = [];
  const s3Rss = [];
  let directKey;
  for (let r = 0; r < runs; r++) {
    await mutateHead(file);
    digest = (await sha256sum(file)).digest;
    directKey = `direct-${r}.bin`;
    const direct = await timed(() => sdkMultipart(sdk, 'direct', directKey, file, size));
    sdkMs.push(direct.ms);
    const sampler = sampleRss(s3Server.pid);
    const { ms } = await timed(() => uploadFile(s3Api, file, { digest, size, partSize: PART }));
    s3Rss.push(await sampler.stop());
    s3UploadMs.push(ms);
    log(
      `s3 upload ${r + 1}/${runs}: ${(ms / 1000).toFixed(2)} s (SDK direct ${(direct.ms / 1000).toFixed(2)} s)`,
    );
  }
  ctx.figure({
    id: 'cas.upload.s3',
    suite: 'CAS',
    title: `Upload ${fmtBytes(size)} in 64 MiB parts to the s3 store (s3rver), begin → ready`,
    unit: 's',
    samples: s3UploadMs.map((ms) => ms / 1000),
    reference: {
      name: 'AWS SDK multipart upload straight to s3rver',
      samples: sdkMs.map((ms) => ms / 1000),
    },
    target: { text: '≤ 1.3× the SDK', op: '<=', bound: 1.3 },
    extra: {
      throughput_mib_s: s3UploadMs.map((ms) => throughput(size, ms)),
      reference_throughput_mib_s: sdkMs.map((ms) => throughput(size, ms)),
      rss_growth_mib: s3Rss.map((m) => m.growth / MIB),
    },
  });
  await s3Api.post('/v1/images', { name: 'bulk' });
  const s3Published = await publishBig(s3Api, {
    image: 'bulk',
    version: 's1',
    digest,
    size,
    format: 'raw',
  });
  const s3DlMs = [];
  const directDlMs = [];
  for (let r = 0; r < runs; r++) {
    directDlMs.push(await curlDownload(`${s3.endpoint}/direct/${directKey}`, size));
    s3DlMs.push(await curlDownload(`${s3Server.url}${s3Published.downloadPath}`, size));
  }
  ctx.figure({
    id: 'catalog.download.s3',
    suite: 'Catalog',
    title: `curl download of a ${fmtBytes(size)} published artifact, s3 store (s3rver)`,
    unit: 's',
    samples: s3DlMs.map((ms) => ms / 1000),
    reference: { name: 'direct GET from s3rver', samples: directDlMs.map((ms) => ms / 1000) },
    extra: {
      throughput_mib_s: s3DlMs.map((ms) => throughput(size, ms)),
      reference_throughput_mib_s: directDlMs.map((ms) => throughput(size, ms)),
    },
  });
  sdk.destroy();
  await s3Group.stop();
  await s3.stop();
  await nginx.stop();
  const { size: left } = await stat(file);
  log(`bulk suite done (${fmtBytes(left)} file)`);
}

async function sdkMultipart(sdk, bucket, key, file, size) {
  const { UploadId } = await sdk.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
  );
  const parts = [];
  for (let offset = 0, n = 1; offset < size; offset += PART, n++) {
    const length = Math.min(PART, size - offset);
    const { ETag } = await sdk.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: n,
        ContentLength: length,
        Body: createReadStream(file, {
          start: offset,
          end: offset + length - 1,
          highWaterMark: MIB,
        }),
      }),
    );
    parts.push({ PartNumber: n, ETag });
  }
  await sdk.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
}

/**
 * The operator CLI pushing the same big file as a container root (`imgsrv push --rootfs`, four
 * parts at a time, 64 MiB each): hashing it, uploading it in parallel, the metadata and the draft,
 * against `openssl dgst -sha256` of the file in the same run.
 */
async function cliPush(ctx, { server, bootstrap, file, size, bigDir, runs }) {
  const token = await writerToken(server.url, bootstrap);
  const meta = await makeIncusMetadata(bigDir, { os: 'benchos', release: 'push' });
  const home = join(ctx.workDir, 'cli-home');
  await mkdir(home, { recursive: true });
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    IMGSRV_CONFIG: join(home, 'config.json'),
    IMGSRV_URL: server.url,
    IMGSRV_TOKEN: token,
  };
  const pushMs = [];
  const opensslMs = [];
  for (let r = 0; r < runs; r++) {
    await mutateHead(file);
    opensslMs.push((await opensslSha256(file)).ms);
    const { ms } = await timeCommand(
      process.execPath,
      [
        join(ROOT, 'bin', 'imgsrv.js'),
        'push',
        'cli-push',
        `v${r + 1}`,
        '--metadata',
        meta,
        '--rootfs',
        file,
        '--parallel',
        '4',
        '--part-size',
        '64M',
        '--quiet',
        '--json',
      ],
      { env },
    );
    pushMs.push(ms);
    log(
      `cli push ${r + 1}/${runs}: ${(ms / 1000).toFixed(2)} s (openssl ${(opensslMs.at(-1) / 1000).toFixed(2)} s)`,
    );
  }
  ctx.figure({
    id: 'cas.upload.cli_parallel',
    suite: 'CAS',
    title: `\`imgsrv push\` of ${fmtBytes(size)} (hash, four 64 MiB parts at a time, metadata, draft), fs store`,
    unit: 's',
    samples: pushMs.map((ms) => ms / 1000),
    reference: {
      name: '`openssl dgst -sha256` of the same file',
      short: 'openssl',
      samples: opensslMs.map((ms) => ms / 1000),
    },
    target: { text: '≤ 2× openssl dgst -sha256', op: '<=', bound: 2 },
    extra: { throughput_mib_s: pushMs.map((ms) => throughput(size, ms)) },
  });
}

/**
 * 64 KiB blobs, begin → ready, sequential: one request (PUT /v1/blobs/{digest}) against the
 * session protocol (begin, part, complete), interleaved, each blob new.
 */
async function smallBlobs(ctx, api) {
  const n = Math.max(10, ctx.settings.sequentialPublishes * 4);
  const one = [];
  const session = [];
  for (let i = 0; i < 2 * n; i++) {
    const bytes = randomBytes(64 * KIB);
    const t0 = nowMs();
    if (i % 2 === 0) {
      const res = await api.put(`/v1/blobs/${digestOf(bytes)}`, bytes, {
        headers: { 'content-type': 'application/octet-stream' },
      });
      if (res.status !== 201 || res.body.state !== 'ready')
        throw new Error(`PUT /v1/blobs answered ${res.status} ${JSON.stringify(res.body)}`);
      one.push(nowMs() - t0);
    } else {
      await uploadBuffer(api, bytes);
      session.push(nowMs() - t0);
    }
  }
  ctx.figure({
    id: 'cas.small_blob.put',
    suite: 'CAS',
    title: `64 KiB blob, begin → ready, one request (PUT /v1/blobs/{digest}), p50 of ${n} sequential`,
    unit: 'ms',
    samples: one,
    reference: {
      name: 'the session protocol (begin, part, complete)',
      short: 'session',
      samples: session,
    },
    target: { text: 'p50 ≤ 10 ms', op: '<=', bound: 10, of: 'value' },
    extra: { p99_ms: quantile(one, 0.99), session_p99_ms: quantile(session, 0.99) },
  });
  ctx.figure({
    id: 'cas.small_blob.put.p99',
    suite: 'CAS',
    title: `64 KiB blob in one request: p99 of ${n} sequential`,
    unit: 'ms',
    samples: [quantile(one, 0.99)],
    target: { text: 'p99 ≤ 30 ms', op: '<=', bound: 30, of: 'value' },
  });
}
