import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { metric } from '../support/processes';
import { startTestApp, type TestApp } from '../support/test-app';

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

const FIRST = `sha256:${'a1'.repeat(32)}`;
const SECOND = `sha256:${'b2'.repeat(32)}`;

/**
 * The storage gauges cost two queries over the whole catalog: one reading answers scrapes for
 * IMGSRV_STORAGE_METRICS_MAX_AGE, and `0s` reads at every scrape.
 */
describe.each([
  { maxAge: '1h', later: { cited: 1024, image: undefined } },
  { maxAge: '0s', later: { cited: 1024 + 2048, image: 2048 } },
])('storage gauges with IMGSRV_STORAGE_METRICS_MAX_AGE=$maxAge', ({ maxAge, later }) => {
  let app: TestApp;
  let writer: Record<string, string>;

  beforeAll(async () => {
    app = await startTestApp({ env: { IMGSRV_STORAGE_METRICS_MAX_AGE: maxAge } });
    writer = (await issueIdentity(app, 'content-writer')).headers;
  }, 60_000);
  afterAll(() => app?.close());

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
});
