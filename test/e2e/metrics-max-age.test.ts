import { randomBytes } from 'node:crypto';
import { bearer, issueIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';
import { randomData } from '../support/cas-streams';
import { metric } from '../support/processes';
import { startTestApp, type TestApp } from '../support/test-app';
import { uploadBlob } from '../support/uploads';

/** A draft `version` of `image` (created when missing) citing `size` bytes under `digest`. */
async function draftCiting(
  app: TestApp,
  writer: Record<string, string>,
  image: string,
  version: string,
  digest: string,
  size: number,
): Promise<void> {
  await api(app, 'POST', '/v1/images', writer, { name: image });
  expect((await api(app, 'POST', `/v1/images/${image}/versions`, writer, { version })).status).toBe(
    201,
  );
  const artifact = await api(
    app,
    'POST',
    `/v1/images/${image}/versions/${version}/artifacts`,
    writer,
    {
      operating_system: 'debian',
      architecture: 'x86_64',
      format: 'qcow2',
      primary_blob_digest: digest,
      primary_blob_size_bytes: size,
      primary_media_type: 'application/octet-stream',
    },
  );
  expect(artifact.status).toBe(201);
}

/** Each gauge's series summed (every state, every image), from one scrape. */
async function gaugeSums(app: TestApp): Promise<Record<string, number>> {
  const text = await (await fetch(app.server.urls.metrics as string)).text();
  const names = [
    'imgsrv_storage_cited_bytes',
    'imgsrv_image_storage_bytes',
    'imgsrv_cas_blobs',
    'imgsrv_cas_blob_bytes',
    'imgsrv_upload_sessions',
    'imgsrv_publish_jobs',
    'imgsrv_publish_steps',
    'imgsrv_webhook_deliveries',
  ];
  const sums: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const line of text.split('\n')) {
    const name = /^(\w+)[{ ]/.exec(line)?.[1];
    if (name && name in sums) sums[name] += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sums;
}

const FIRST = `sha256:${'a1'.repeat(32)}`;
const SECOND = `sha256:${'b2'.repeat(32)}`;

/**
 * The gauges counted over whole tables (storage, blobs, upload sessions, publish jobs and steps,
 * webhook deliveries): one reading answers scrapes for IMGSRV_METRICS_MAX_AGE, and `0s` reads at
 * every scrape.
 */
describe.each([
  { maxAge: '1h', later: { cited: 1024, image: undefined } },
  { maxAge: '0s', later: { cited: 1024 + 2048, image: 2048 } },
])('gauges read from PostgreSQL with IMGSRV_METRICS_MAX_AGE=$maxAge', ({ maxAge, later }) => {
  let app: TestApp;
  let writer: Record<string, string>;

  beforeAll(async () => {
    app = await startTestApp({
      env: { IMGSRV_METRICS_MAX_AGE: maxAge, IMGSRV_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' },
    });
    writer = (await issueIdentity(app, 'content-writer')).headers;
    // Deliveries of every alias move, to a port where nothing listens (they fail and retry).
    const hook = await api(app, 'POST', '/v1/webhooks', bearer(app.bootstrapToken), {
      url: 'http://127.0.0.1:9/hook',
      events: ['alias.moved'],
    });
    expect(hook.status).toBe(201);
  }, 60_000);
  afterAll(() => app?.close());

  /** One more row in each table the gauges count: a blob and its session, a job, a delivery. */
  async function oneOfEach(name: string): Promise<void> {
    const blob = await uploadBlob(app, writer, randomData(1000 + randomBytes(1)[0]));
    await draftCiting(app, writer, `${name}-pub`, '1', blob.digest, blob.size);
    const job = await api(app, 'POST', `/v1/images/${name}-pub/versions/1/publish`, writer);
    expect(job.status).toBe(202);
    await draftCiting(app, writer, `${name}-aliased`, '1', FIRST, 1024);
    await markPublished(app, `${name}-aliased`, '1');
    const moved = await api(app, 'PUT', `/v1/images/${name}-aliased/aliases/latest`, writer, {
      version: '1',
    });
    expect(moved.status).toBe(200);
  }

  it(`answers a change ${maxAge === '0s' ? 'at the next scrape' : 'from the last reading while it is younger than 1h'}`, async () => {
    await draftCiting(app, writer, 'first', '1', FIRST, 1024);
    expect(await metric(app, 'imgsrv_storage_cited_bytes')).toBe(1024);
    expect(await metric(app, 'imgsrv_image_storage_bytes{image="first",kind="cited"}')).toBe(1024);

    await draftCiting(app, writer, 'second', '1', SECOND, 2048);
    expect(await metric(app, 'imgsrv_storage_cited_bytes')).toBe(later.cited);
    expect(await metric(app, 'imgsrv_image_storage_bytes{image="second",kind="cited"}')).toBe(
      later.image,
    );
    // The API answers from the database either way.
    expect((await api(app, 'GET', '/v1/storage', writer)).body.bytes).toBe(1024 + 2048);
  });

  it(`${maxAge === '0s' ? 'counts' : 'keeps'} blobs, upload sessions, publish jobs and steps and webhook deliveries ${maxAge === '0s' ? 'anew at every scrape' : 'from the last reading'}`, async () => {
    await oneOfEach('a');
    // With 1h, the reading of the test before (taken before any of these rows) still answers.
    const before = await gaugeSums(app);
    if (maxAge === '0s')
      for (const name of ['imgsrv_cas_blobs', 'imgsrv_upload_sessions', 'imgsrv_publish_jobs'])
        expect(before[name]).toBeGreaterThanOrEqual(1);
    await oneOfEach('b');
    const after = await gaugeSums(app);
    if (maxAge === '1h') {
      expect(after).toEqual(before);
    } else {
      expect(after.imgsrv_cas_blobs).toBe(before.imgsrv_cas_blobs + 1);
      expect(after.imgsrv_cas_blob_bytes).toBeGreaterThan(before.imgsrv_cas_blob_bytes + 1000);
      expect(after.imgsrv_upload_sessions).toBe(before.imgsrv_upload_sessions + 1);
      expect(after.imgsrv_publish_jobs).toBe(before.imgsrv_publish_jobs + 1);
      expect(after.imgsrv_publish_steps).toBeGreaterThan(before.imgsrv_publish_steps);
      expect(after.imgsrv_webhook_deliveries).toBe(before.imgsrv_webhook_deliveries + 1);
    }
  });
});
