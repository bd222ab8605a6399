import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { casKeyOf } from '../../src/cas/digest';
import { issueIdentity, type IssuedIdentity } from '../support/auth';
import { MIB, randomData } from '../support/cas-streams';
import { publishedDownload } from '../support/catalog';
import { fdsReferringTo } from '../support/fds';
import { metric } from '../support/processes';
import { eventually, sleep } from '../support/waiting';
import { RawConnection, rawRequest as get } from '../support/raw-http';
import { startS3rver, type RunningS3rver } from '../support/s3rver';
import { TcpProxy } from '../support/tcp-proxy';
import { startTestApp, type TestApp } from '../support/test-app';
import { uploadBlob } from '../support/uploads';
import { sha256Hex } from '../support/digests';

/** Waits until `check` holds: for what the server records after the client has had every byte. */
const until = (what: string, check: () => boolean | Promise<boolean>) =>
  eventually(what, async () => ((await check()) ? true : undefined));

const SIZE = 20 * MIB + 123; // past the socket buffers, so sendfile waits for room on the way

describe('downloads', () => {
  let app: TestApp;
  let writer: IssuedIdentity;
  let data: Buffer;
  let digest: string;
  let blobFile: string;
  let artifactPath: string;

  const counter = async (sample: string) => (await metric(app, sample)) ?? 0;
  const sendfiles = (kind: string) => counter(`imgsrv_download_sendfile_total{kind="${kind}"}`);

  beforeAll(async () => {
    app = await startTestApp();
    writer = await issueIdentity(app, 'content-writer');
    data = randomData(SIZE);
    ({ digest } = await uploadBlob(app, writer.headers, data));
    blobFile = join(app.dataDir, 'blobs', casKeyOf(digest));
    artifactPath = await publishedDownload(app, writer.headers, 'dl', digest, SIZE);
  });
  afterAll(() => app.close());

  it('sends a published artifact with sendfile: headers, bytes, request log and metrics', async () => {
    const before = {
      sendfile: await sendfiles('artifact'),
      bytes: await counter('imgsrv_download_bytes_total{kind="artifact"}'),
      answers: await counter('imgsrv_downloads_total{kind="artifact",status="200"}'),
    };
    const res = await app.fetch(artifactPath, { headers: { 'x-request-id': 'download-0001' } });
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(Object.fromEntries(res.headers)).toMatchObject({
      'content-length': String(SIZE),
      'content-type': 'application/x-qemu-disk',
      etag: `"${digest}"`,
      'accept-ranges': 'bytes',
      'cache-control': 'public, max-age=31536000, immutable',
      'content-disposition': 'attachment; filename="dl-1-amd64.qcow2"',
      'x-content-type-options': 'nosniff',
      'x-request-id': 'download-0001',
      connection: 'keep-alive',
    });
    expect(res.headers.get('last-modified')).toMatch(/ GMT$/);
    expect(res.headers.get('date')).toMatch(/ GMT$/);
    expect(sha256Hex(body)).toBe(sha256Hex(data));

    expect(await sendfiles('artifact')).toBe(before.sendfile + 1);
    expect(await counter('imgsrv_downloads_total{kind="artifact",status="200"}')).toBe(
      before.answers + 1,
    );
    const logged = () =>
      app.logs.lines.map((l) => JSON.parse(l)).find((l) => l.reqId === 'download-0001');
    await until('the request is logged', () => logged() !== undefined);
    const route = '/v1/images/:name/versions/:version/artifacts/:artifact_id/download';
    expect(logged()).toMatchObject({ msg: 'request', method: 'GET', route, status: 200 });
    expect(
      await counter(`imgsrv_http_requests_total{method="GET",route="${route}",status="200"}`),
    ).toBeGreaterThan(0);
    expect(await counter('imgsrv_download_bytes_total{kind="artifact"}')).toBe(before.bytes + SIZE);
    await until('the blob file is closed', () => fdsReferringTo(blobFile) === 0);
  });

  it('answers ranges, conditional requests and HEAD, bodies by sendfile, and serves blobs too', async () => {
    const before = await sendfiles('artifact');
    const etag = `"${digest}"`;
    for (const [range, start, end] of [
      ['bytes=5-1048580', 5, 1048580],
      [`bytes=${SIZE - 1000}-`, SIZE - 1000, SIZE - 1],
      ['bytes=-7', SIZE - 7, SIZE - 1],
    ] as const) {
      const res = await app.fetch(artifactPath, { headers: { range } });
      const body = Buffer.from(await res.arrayBuffer());
      expect([range, res.status]).toEqual([range, 206]);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      expect(body.equals(data.subarray(start, end + 1))).toBe(true);
    }
    expect(await sendfiles('artifact')).toBe(before + 3);

    const stale = await app.fetch(artifactPath, {
      headers: { range: 'bytes=0-9', 'if-range': '"sha256:0000"' },
    });
    expect(stale.status).toBe(200);
    expect(sha256Hex(Buffer.from(await stale.arrayBuffer()))).toBe(sha256Hex(data));
    const fresh = await app.fetch(artifactPath, {
      headers: { range: 'bytes=0-9', 'if-range': etag },
    });
    expect(fresh.status).toBe(206);
    expect(Buffer.from(await fresh.arrayBuffer()).equals(data.subarray(0, 10))).toBe(true);
    expect(await sendfiles('artifact')).toBe(before + 5);

    const notModified = await app.fetch(artifactPath, { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect((await notModified.arrayBuffer()).byteLength).toBe(0);
    const head = await app.fetch(artifactPath, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(etag);
    expect(head.headers.get('content-length')).toBe(String(SIZE));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const headRange = await app.fetch(artifactPath, {
      method: 'HEAD',
      headers: { range: 'bytes=10-19' },
    });
    expect(headRange.status).toBe(206);
    expect(headRange.headers.get('content-length')).toBe('10');
    expect(headRange.headers.get('content-range')).toBe(`bytes 10-19/${SIZE}`);
    const unsatisfiable = await app.fetch(artifactPath, { headers: { range: `bytes=${SIZE}-` } });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers.get('content-range')).toBe(`bytes */${SIZE}`);
    expect(await unsatisfiable.json()).toMatchObject({ code: 'RANGE_NOT_SATISFIABLE' });
    expect(await sendfiles('artifact')).toBe(before + 5);

    const blobBefore = await sendfiles('blob');
    const blob = await app.fetch(`/v1/blobs/${digest}`, { headers: writer.headers });
    expect(blob.status).toBe(200);
    expect(blob.headers.get('content-disposition')).toBe(
      `attachment; filename="${digest.replace(':', '-')}"`,
    );
    expect(sha256Hex(Buffer.from(await blob.arrayBuffer()))).toBe(sha256Hex(data));
    expect(await sendfiles('blob')).toBe(blobBefore + 1);
    await until('the blob file is closed', () => fdsReferringTo(blobFile) === 0);
  });

  it('keeps the connection: downloads one after another, pipelined, then a JSON request', async () => {
    const conn = await RawConnection.open(app.url);
    await conn.write(get(artifactPath));
    const [first] = await conn.read(['GET']);
    await conn.write(get(artifactPath, { range: 'bytes=100-199' }));
    const [second] = await conn.read(['GET']);
    expect([first.status, second.status]).toEqual([200, 206]);
    expect(sha256Hex(first.body)).toBe(sha256Hex(data));
    expect(second.body.equals(data.subarray(100, 200))).toBe(true);

    // The second answer waits for the first in Node; its bytes must not overtake.
    await conn.write(
      get(artifactPath, { range: 'bytes=0-4999999' }) +
        get(artifactPath, { range: 'bytes=5000000-9999999' }),
    );
    const [a, b] = await conn.read(['GET', 'GET']);
    expect(Buffer.concat([a.body, b.body]).equals(data.subarray(0, 10_000_000))).toBe(true);

    await conn.write(get('/v1/images/dl'));
    const [json] = await conn.read(['GET']);
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body.toString())).toMatchObject({ name: 'dl' });
    conn.destroy();
  });

  it('sends after what the streams fast path answered on the same connection', async () => {
    const fastPath = () => counter('imgsrv_streams_fast_path_total');
    const before = await sendfiles('artifact');
    const fastBefore = await fastPath();
    const conn = await RawConnection.open(app.url);
    const index = get('/streams/v1/index.json');
    await conn.write(index + get(artifactPath, { range: 'bytes=0-9999999' }) + index);
    const [first, download, again] = await conn.read(['GET', 'GET', 'GET']);
    conn.destroy();
    expect([first.status, download.status, again.status]).toEqual([200, 206, 200]);
    expect(again.body.equals(first.body)).toBe(true);
    expect(download.body.equals(data.subarray(0, 10_000_000))).toBe(true);
    expect(await sendfiles('artifact')).toBe(before + 1);
    // The fast path answered both document reads; the application sent the download between.
    expect(await fastPath()).toBe(fastBefore + 2);
  });

  it('holds nothing up for a client that stops reading, and lets the file go when it leaves', async () => {
    const { port } = new URL(app.url);
    const client = connect(Number(port), '127.0.0.1');
    client.on('error', () => undefined);
    await once(client, 'connect');
    client.pause();
    client.write(get(artifactPath));
    await until('the transfer holds the file (and its dup)', () => fdsReferringTo(blobFile) === 2);
    const health = await app.fetch('/healthz');
    expect(health.status).toBe(200);
    await health.arrayBuffer();
    const abortedBefore = await counter('imgsrv_downloads_aborted_total{kind="artifact"}');
    client.destroy();
    await until('the blob file is closed', () => fdsReferringTo(blobFile) === 0);
    await until(
      'the abort is counted and logged',
      async () =>
        (await counter('imgsrv_downloads_aborted_total{kind="artifact"}')) === abortedBefore + 1,
    );
    expect(app.logs.text()).toContain('download aborted by the client');
    const after = await app.fetch(artifactPath, { headers: { range: 'bytes=0-0' } });
    expect(Buffer.from(await after.arrayBuffer()).equals(data.subarray(0, 1))).toBe(true);
  });

  it('streams the same answer over TLS, where sendfile cannot be used', async () => {
    const before = await sendfiles('artifact');
    const bytesBefore = await counter('imgsrv_download_bytes_total{kind="artifact"}');
    const plain = await app.fetch(artifactPath, { method: 'HEAD' });
    const tls = await app.fetch(artifactPath, { tls: true });
    const body = Buffer.from(await tls.arrayBuffer());
    expect(tls.status).toBe(200);
    expect(sha256Hex(body)).toBe(sha256Hex(data));
    const names = (h: Headers) =>
      [...h.keys()].filter((n) => !['date', 'x-request-id', 'keep-alive'].includes(n)).sort();
    expect(names(tls.headers)).toEqual(names(plain.headers));
    expect(tls.headers.get('content-disposition')).toBe(plain.headers.get('content-disposition'));
    expect(await sendfiles('artifact')).toBe(before);
    await until(
      'the bytes are counted',
      async () =>
        (await counter('imgsrv_download_bytes_total{kind="artifact"}')) === bytesBefore + SIZE,
    );
  });
});

describe('downloads with IMGSRV_SENDFILE=false', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { IMGSRV_SENDFILE: 'false' } });
  });
  afterAll(() => app.close());

  it('streams through Node on plain HTTP too', async () => {
    const writer = await issueIdentity(app, 'content-writer');
    const data = randomData(3 * MIB);
    const { digest } = await uploadBlob(app, writer.headers, data);
    const res = await app.fetch(`/v1/blobs/${digest}`, {
      headers: { ...writer.headers, range: 'bytes=1-' },
    });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(1))).toBe(true);
    expect(await metric(app, 'imgsrv_download_sendfile_total{kind="blob"}')).toBeUndefined();
    await until(
      'the bytes are counted',
      async () =>
        (await metric(app, 'imgsrv_download_bytes_total{kind="blob"}')) === data.length - 1,
    );
  });
});

describe('downloads from the s3 store, cut short', () => {
  // Far past what the sockets on the way (s3rver → proxy → imgsrv → client) buffer, so a client
  // that stops reading holds the transfer in the middle.
  const BIG = 64 * MIB;
  let s3: RunningS3rver;
  let proxy: TcpProxy;
  let app: TestApp;
  let writer: IssuedIdentity;
  let data: Buffer;
  let path: string;

  const counter = async (sample: string) => (await metric(app, sample)) ?? 0;
  const counts = async () => ({
    aborted: await counter('imgsrv_downloads_aborted_total{kind="blob"}'),
    storeFailures: await counter('imgsrv_download_store_failures_total{kind="blob"}'),
  });

  /** Waits until the cut is counted one way or the other; answers the counts then. */
  async function cutCounted(before: { aborted: number; storeFailures: number }) {
    const changed = (c: typeof before) =>
      c.aborted + c.storeFailures > before.aborted + before.storeFailures;
    await until('the cut is counted', async () => changed(await counts()));
    return counts();
  }

  /** A download whose client read its first bytes and then stopped reading. */
  async function stalledDownload(): Promise<RawConnection> {
    const conn = await RawConnection.open(app.url);
    await conn.write(get(path, writer.headers));
    await until('the body is under way', () => conn.pending > 0);
    conn.pause();
    await sleep(300);
    return conn;
  }

  beforeAll(async () => {
    s3 = await startS3rver();
    const bucket = 'downloads';
    await s3.createBucket(bucket);
    const target = new URL(s3.endpoint);
    proxy = new TcpProxy(target.hostname, Number(target.port));
    await proxy.start();
    app = await startTestApp({
      env: {
        IMGSRV_BLOB_STORE: 's3',
        IMGSRV_S3_ENDPOINT: `http://${proxy.address.host}:${proxy.address.port}`,
        IMGSRV_S3_BUCKET: bucket,
        IMGSRV_S3_ACCESS_KEY_ID: s3.accessKeyId,
        IMGSRV_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        IMGSRV_S3_FORCE_PATH_STYLE: 'true',
      },
    });
    writer = await issueIdentity(app, 'content-writer');
    data = randomData(BIG);
    const { digest } = await uploadBlob(app, writer.headers, data);
    path = `/v1/blobs/${digest}`;
  });
  afterAll(async () => {
    await app.close();
    await proxy.stop();
    await s3.close();
  });

  it('blames the store, not the client, when the store connection dies mid-body', async () => {
    const before = await counts();
    const conn = await stalledDownload();
    await proxy.stop();
    try {
      conn.resume();
      await conn.closed;
      expect(conn.pending).toBeLessThan(BIG);
      expect(await cutCounted(before)).toEqual({
        aborted: before.aborted,
        storeFailures: before.storeFailures + 1,
      });
    } finally {
      await proxy.start();
    }
    const cut = app.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'download cut: the blob store failed');
    expect(cut).toMatchObject({ level: 40, kind: 'blob', url: path, bytes: BIG });
    expect(app.logs.text()).not.toContain('download aborted by the client');

    const again = await app.fetch(path, { headers: { ...writer.headers, range: 'bytes=0-9' } });
    expect(Buffer.from(await again.arrayBuffer()).equals(data.subarray(0, 10))).toBe(true);
  });

  it('still counts a client that goes away as an abort', async () => {
    const before = await counts();
    const conn = await stalledDownload();
    conn.destroy();
    expect(await cutCounted(before)).toEqual({
      aborted: before.aborted + 1,
      storeFailures: before.storeFailures,
    });
    expect(app.logs.text()).toContain('download aborted by the client');
  });
});
