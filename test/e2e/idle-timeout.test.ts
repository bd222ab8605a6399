import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { join } from 'node:path';
import { casKeyOf } from '../../src/cas/digest';
import { issueIdentity, type IssuedIdentity } from '../support/auth';
import { MIB, randomData } from '../support/cas-streams';
import { publishedDownload } from '../support/catalog';
import { fdsReferringTo } from '../support/fds';
import { metric } from '../support/processes';
import { eventually, sleep } from '../support/waiting';
import { RawConnection, rawRequest as get } from '../support/raw-http';
import { startTestApp, type TestApp } from '../support/test-app';
import { uploadBlob } from '../support/uploads';
import { sha256Hex, sha256Of } from '../support/digests';

const until = (what: string, check: () => boolean | Promise<boolean>) =>
  eventually(what, async () => ((await check()) ? true : undefined));

const SIZE = 20 * MIB + 7; // past the socket buffers on both ends
// Long enough that a busy machine's late timers (the clients below run in this process too) do
// not look like a stall: a reader at 3 MiB/s lets the server's socket move about every 500 ms.
const IDLE_MS = 2_000;

/**
 * GETs `path` over a connection of its own and reads the answer no faster than `bytesPerSecond`,
 * pausing after each chunk for as long as the chunk is worth. Returns the body, once the server
 * has sent Content-Length bytes of it.
 */
async function slowGet(
  url: string,
  path: string,
  headers: Record<string, string>,
  bytesPerSecond: number,
): Promise<{ status: number; body: Buffer }> {
  const { protocol, hostname, port } = new URL(url);
  const options = { host: hostname, port: Number(port) };
  const socket: Socket = await new Promise((resolve, reject) => {
    const s: Socket =
      protocol === 'https:'
        ? connectTls({ ...options, rejectUnauthorized: false }, () => resolve(s))
        : connectTcp(options, () => resolve(s));
    s.once('error', reject);
  });
  socket.write(get(path, headers));
  const chunks: Buffer[] = [];
  let received = 0;
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${received} bytes`)));
    // The head is parsed once and the body only counted until it is complete: concatenating
    // everything on each chunk cost this process enough CPU on a busy machine to stall its reads.
    let head: { status: number; bodyStart: number; length: number } | undefined;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (!head) {
        const all = Buffer.concat(chunks);
        const end = all.indexOf('\r\n\r\n');
        if (end >= 0) {
          const text = all.toString('latin1', 0, end);
          head = {
            status: Number(text.slice(9, 12)),
            bodyStart: end + 4,
            length: Number(/content-length: (\d+)/i.exec(text)?.[1]),
          };
        }
      }
      if (head && received - head.bodyStart >= head.length) {
        socket.removeAllListeners('close');
        socket.destroy();
        const all = Buffer.concat(chunks);
        resolve({
          status: head.status,
          body: all.subarray(head.bodyStart, head.bodyStart + head.length),
        });
        return;
      }
      // Paced, but never still for long: a pause near the idle timeout would be a stall.
      socket.pause();
      setTimeout(
        () => socket.resume(),
        Math.min((chunk.length / bytesPerSecond) * 1000, IDLE_MS / 4),
      );
    });
  });
}

describe(`connections that stop moving bytes (IMGSRV_HTTP_IDLE_TIMEOUT=${IDLE_MS}ms)`, () => {
  let app: TestApp;
  let writer: IssuedIdentity;
  let data: Buffer;
  let blobFile: string;
  let artifactPath: string;

  const counter = async (sample: string) => (await metric(app, sample)) ?? 0;
  const idleTimeouts = () => counter('imgsrv_http_idle_timeouts_total');

  /**
   * The same database and blob store served without the short limit, as a second API process
   * would: fixtures go in through it, so a loaded machine pausing a fixture upload for a second
   * cannot fail the set-up; the tests' stalls all go to `app`.
   */
  let setup: TestApp;

  beforeAll(async () => {
    setup = await startTestApp();
    writer = await issueIdentity(setup, 'content-writer');
    data = randomData(SIZE);
    const { digest } = await uploadBlob(setup, writer.headers, data);
    blobFile = join(setup.dataDir, 'blobs', casKeyOf(digest));
    artifactPath = await publishedDownload(setup, writer.headers, 'idle', digest, SIZE);
    app = await startTestApp({
      database: setup.database,
      env: {
        IMGSRV_HTTP_IDLE_TIMEOUT: `${IDLE_MS}ms`,
        IMGSRV_DATA_DIR: setup.dataDir,
        IMGSRV_BOOTSTRAP_TOKEN: setup.bootstrapToken,
      },
    });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await setup?.close();
  });

  it.each([
    ['plain HTTP, the body sent by sendfile', false, 1],
    ['TLS, the body streamed through Node', true, 0],
  ])(
    'closes a download whose client stopped reading (%s), and lets the file go',
    async (_, tls, sendfileUsed) => {
      const before = {
        idle: await idleTimeouts(),
        aborted: await counter('imgsrv_downloads_aborted_total{kind="artifact"}'),
        sendfile: await counter('imgsrv_download_sendfile_total{kind="artifact"}'),
      };
      const conn = await RawConnection.open(tls ? httpsUrl(app) : app.url);
      conn.pause();
      await conn.write(get(artifactPath));
      await until('the transfer holds the file', () => fdsReferringTo(blobFile) > 0);
      await until('the stall is counted', async () => (await idleTimeouts()) === before.idle + 1);
      await until('the blob file is closed', () => fdsReferringTo(blobFile) === 0);
      // The client, reading again, gets what was under way and then the end: never the whole body.
      conn.resume();
      await conn.closed;
      expect(conn.pending).toBeGreaterThan(0);
      expect(conn.pending).toBeLessThan(SIZE);
      expect(await counter('imgsrv_downloads_aborted_total{kind="artifact"}')).toBe(
        before.aborted + 1,
      );
      expect(await counter('imgsrv_download_sendfile_total{kind="artifact"}')).toBe(
        before.sendfile + sendfileUsed,
      );
      expect(app.logs.text()).toContain(
        'closed a connection whose request moved no bytes for the idle timeout',
      );
    },
  );

  it.each([
    ['plain HTTP, by sendfile', false],
    ['TLS', true],
  ])(
    'lets a slow client that keeps reading take longer than the idle timeout in all (%s)',
    async (_, tls) => {
      const before = await idleTimeouts();
      const length = 18 * MIB;
      const started = performance.now();
      const { status, body } = await slowGet(
        tls ? httpsUrl(app) : app.url,
        artifactPath,
        { range: `bytes=0-${length - 1}` },
        3 * MIB, // about 6 s for the range: three idle periods
      );
      expect(status).toBe(206);
      expect(sha256Hex(body)).toBe(sha256Hex(data.subarray(0, length)));
      expect(performance.now() - started).toBeGreaterThan(2 * IDLE_MS);
      expect(await idleTimeouts()).toBe(before);
    },
  );

  it('closes an upload whose client stopped sending; the part is sent again and the blob completes', async () => {
    const bytes = randomData(3 * MIB);
    const json = { ...writer.headers, 'content-type': 'application/json' };
    const begin = await app.fetch('/v1/uploads', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ expected_digest: sha256Of(bytes), expected_size_bytes: bytes.length }),
    });
    expect(begin.status).toBe(201);
    const session = (await begin.json()) as { id: string };
    const partPath = `/v1/uploads/${session.id}/parts/1`;
    const before = await idleTimeouts();

    const conn = await RawConnection.open(app.url);
    await conn.write(
      get(
        partPath,
        {
          ...writer.headers,
          'content-type': 'application/octet-stream',
          'content-length': String(bytes.length),
        },
        'PUT',
      ),
    );
    await conn.write(bytes.subarray(0, MIB));
    await conn.closed; // nothing more is sent: the server gives up on the request
    expect(await idleTimeouts()).toBe(before + 1);

    // Sent again and completed without the short limit (another API process), so load cannot cut
    // them too (completing waits for the verification without a byte on the wire).
    const part = await setup.fetch(partPath, {
      method: 'PUT',
      headers: { ...writer.headers, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(part.status).toBe(200);
    const { etag } = (await part.json()) as { etag: string };
    const done = await setup.fetch(`/v1/uploads/${session.id}/complete`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ parts: [{ number: 1, etag, size_bytes: bytes.length }] }),
    });
    expect(done.status).toBeLessThan(300);
    await until('the blob is ready', async () => {
      const res = await setup.fetch(`/v1/uploads/${session.id}`, { headers: writer.headers });
      return ((await res.json()) as { state: string }).state === 'ready';
    });
    const blob = await setup.fetch(`/v1/blobs/${sha256Of(bytes)}`, { headers: writer.headers });
    expect(sha256Hex(Buffer.from(await blob.arrayBuffer()))).toBe(sha256Hex(bytes));
  });

  it('leaves a connection idling between requests to the keep-alive timeout', async () => {
    const before = await idleTimeouts();
    const conn = await RawConnection.open(app.url);
    await conn.write(get('/v1/images/idle', writer.headers));
    const [first] = await conn.read(['GET']);
    await sleep(2.5 * IDLE_MS);
    await conn.write(get('/v1/images/idle', writer.headers));
    const [second] = await conn.read(['GET']);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await idleTimeouts()).toBe(before);
    conn.destroy();
  });
});

/** The app's HTTPS listener, as a base URL. */
function httpsUrl(app: TestApp): string {
  const url = app.server.urls.https;
  if (!url) throw new Error('the test app has no HTTPS listener');
  return url;
}
