import { issueIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';
import { metric } from '../support/processes';
import { RawConnection, rawRequest as get } from '../support/raw-http';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually } from '../support/waiting';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** A draft `version` of `image` (created when missing) with one artifact, marked published. */
async function publishedVersion(
  app: TestApp,
  writer: Record<string, string>,
  image: string,
  version: string,
): Promise<void> {
  await api(app, 'POST', '/v1/images', writer, { name: image, description: 'first words' });
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
      primary_blob_digest: DIGEST,
      primary_blob_size_bytes: 1024,
      primary_media_type: 'application/octet-stream',
    },
  );
  expect(artifact.status).toBe(201);
  await markPublished(app, image, version);
}

/**
 * GET …/versions/{version}: strong ETags over the bytes, 304s, and published manifests answered
 * from memory for the current streams revision (anonymous reads ahead of the web framework), and
 * every write that changes what such a read answers showing at once.
 */
describe('manifest reads: ETags, 304s and the published-manifest cache', () => {
  let app: TestApp;
  let writer: Record<string, string>;
  let reader: Record<string, string>;
  const path = '/v1/images/cached/versions/1';

  const fromMemory = async () =>
    (await metric(app, 'imgsrv_manifest_reads_total{source="memory"}')) ?? 0;

  beforeAll(async () => {
    app = await startTestApp();
    writer = (await issueIdentity(app, 'content-writer')).headers;
    reader = (await issueIdentity(app, 'reader')).headers;
    await publishedVersion(app, writer, 'cached', '1');
  }, 60_000);
  afterAll(() => app?.close());

  it('answers a published manifest with a strong ETag and the same bytes from memory', async () => {
    const first = await app.fetch(path);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(first.headers.get('cache-control')).toBe('public, no-cache');
    expect(first.headers.get('vary')).toBe('Authorization');
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = await first.text();
    expect(JSON.parse(body)).toMatchObject({
      image: { name: 'cached', description: 'first words' },
      version: { version: '1', state: 'published' },
      artifacts: [{ artifact: { primary_blob_digest: DIGEST } }],
    });

    // Raw HTTP: the anonymous answers (now from memory) carry the application's bytes and headers.
    const before = await fromMemory();
    const c = await RawConnection.open(app.url);
    await c.write(
      get(path, { 'X-Request-Id': 'manifest-0001' }) +
        get(path, {}, 'HEAD') +
        get(path, { 'If-None-Match': etag }) +
        get(path, { 'If-None-Match': `"other", W/${etag}` }),
    );
    const [full, head, notModified, weakList] = await c.read(['GET', 'HEAD', 'GET', 'GET']);
    c.destroy();
    expect(full.status).toBe(200);
    expect(full.body.toString()).toBe(body);
    expect(full.headers).toMatchObject({
      etag,
      'cache-control': 'public, no-cache',
      vary: 'Authorization',
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'x-request-id': 'manifest-0001',
    });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe(etag);
    expect(notModified.body.length).toBe(0);
    expect(weakList.status).toBe(304);
    expect(await fromMemory()).toBe(before + 4);

    // With credentials the application answers: the same bytes and tag, kept private.
    const authed = await app.fetch(path, { headers: reader });
    expect(authed.headers.get('etag')).toBe(etag);
    expect(authed.headers.get('cache-control')).toBe('private, no-cache');
    expect(await authed.text()).toBe(body);
    const authed304 = await app.fetch(path, { headers: { ...reader, 'if-none-match': etag } });
    expect(authed304.status).toBe(304);
    expect(await fromMemory()).toBe(before + 6);
  });

  it('shows an image update at once, with a new ETag', async () => {
    const old = (await app.fetch(path)).headers.get('etag') as string;
    const patched = await api(app, 'PATCH', '/v1/images/cached', writer, {
      description: 'second words',
    });
    expect(patched.status).toBe(200);
    const res = await app.fetch(path, { headers: { 'if-none-match': old } });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).not.toBe(old);
    expect(((await res.json()) as any).image.description).toBe('second words');
  });

  it('shows a withdrawal at once: gone for anonymous readers, withdrawn for readers', async () => {
    await publishedVersion(app, writer, 'cached', '2');
    const etag = (await app.fetch('/v1/images/cached/versions/2')).headers.get('etag') as string;
    expect((await app.fetch('/v1/images/cached/versions/2')).status).toBe(200); // from memory
    const done = await api(app, 'POST', '/v1/images/cached/versions/2/withdraw', writer, {
      reason: 'broken',
    });
    expect(done.status).toBe(200);
    const anonymous = await app.fetch('/v1/images/cached/versions/2', {
      headers: { 'if-none-match': etag },
    });
    expect(anonymous.status).toBe(404);
    expect(anonymous.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const seen = await app.fetch('/v1/images/cached/versions/2', { headers: reader });
    expect(seen.status).toBe(200);
    expect(seen.headers.get('etag')).not.toBe(etag);
    expect(seen.headers.get('cache-control')).toBe('private, no-cache');
    expect(((await seen.json()) as any).version.state).toBe('withdrawn');
  });

  it('tags a draft by its bytes and never keeps it: every change shows', async () => {
    await api(app, 'POST', '/v1/images/cached/versions', writer, { version: 'draft' });
    const draft = '/v1/images/cached/versions/draft';
    expect((await app.fetch(draft)).status).toBe(404); // anonymous: drafts are not visible
    const first = await app.fetch(draft, { headers: reader });
    const etag = first.headers.get('etag') as string;
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    expect((await app.fetch(draft, { headers: { ...reader, 'if-none-match': etag } })).status).toBe(
      304,
    );
    await api(app, 'POST', `${draft}/artifacts`, writer, {
      operating_system: 'debian',
      architecture: 'aarch64',
      format: 'qcow2',
      primary_blob_digest: DIGEST,
      primary_blob_size_bytes: 1024,
      primary_media_type: 'application/octet-stream',
    });
    const changed = await app.fetch(draft, { headers: { ...reader, 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    expect(((await changed.json()) as any).artifacts).toHaveLength(1);
  });

  it('leaves other shapes of the path to the application', async () => {
    const body = await (await app.fetch(path)).text(); // in memory for the current revision
    const before = await fromMemory();
    const c = await RawConnection.open(app.url);
    await c.write(
      get(`${path}?x=1`) +
        get('/v1/images/cached/versions/%E0%A4%A') +
        get('/v1/images/cached/versions/1/artifacts') +
        get(path, {}, 'DELETE'),
    );
    const answers = await c.read(['GET', 'GET', 'GET', 'DELETE']);
    c.destroy();
    expect(answers.map((a) => a.status)).toEqual([200, 400, 200, 401]);
    // The query string changes nothing; the application read it from memory all the same.
    expect(answers[0].body.toString()).toBe(body);
    expect(await fromMemory()).toBe(before + 1);
  });

  it('tags refs by the manifest they name now: 304 until the alias moves', async () => {
    await publishedVersion(app, writer, 'cached', '3');
    const one = (await app.fetch(path)).headers.get('etag') as string;
    expect(
      (await api(app, 'PUT', '/v1/images/cached/aliases/latest', writer, { version: '1' })).status,
    ).toBe(200);
    const byVersion = await app.fetch('/v1/images/cached/refs/1');
    expect(byVersion.headers.get('etag')).toBe(one);
    const byAlias = await app.fetch('/v1/images/cached/refs/latest');
    expect(byAlias.status).toBe(200);
    expect(byAlias.headers.get('etag')).toBe(one);
    expect(byAlias.headers.get('cache-control')).toBe('public, no-cache');
    const same = await app.fetch('/v1/images/cached/refs/latest', {
      headers: { 'if-none-match': one },
    });
    expect(same.status).toBe(304);
    expect(
      (await api(app, 'PUT', '/v1/images/cached/aliases/latest', writer, { version: '3' })).status,
    ).toBe(200);
    const moved = await app.fetch('/v1/images/cached/refs/latest', {
      headers: { 'if-none-match': one },
    });
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as any).version.version).toBe('3');
  });

  it('shows another process’s change within the revision check', async () => {
    const other = await startTestApp({ database: app.database });
    try {
      expect((await other.fetch(path)).status).toBe(200);
      expect((await other.fetch(path)).status).toBe(200); // from memory there too
      const patched = await api(app, 'PATCH', '/v1/images/cached', writer, {
        description: 'third words',
      });
      expect(patched.status).toBe(200);
      await eventually('the other process to show the update', async () => {
        const body = (await (await other.fetch(path)).json()) as any;
        return body.image.description === 'third words' ? true : undefined;
      });
    } finally {
      await other.close();
    }
  });

  it('answers a published artifact from the manifest in memory, with ETag and 304, until the version is withdrawn', async () => {
    await publishedVersion(app, writer, 'arts', '1');
    const manifest = (await (await app.fetch('/v1/images/arts/versions/1')).json()) as any;
    const artifactPath = `/v1/images/arts/versions/1/artifacts/${manifest.artifacts[0].artifact.id}`;
    const fromMemoryArtifacts = async () =>
      (await metric(app, 'imgsrv_artifact_reads_total{source="memory"}')) ?? 0;
    const before = await fromMemoryArtifacts();
    const first = await app.fetch(artifactPath);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(first.headers.get('cache-control')).toBe('public, no-cache');
    expect(first.headers.get('vary')).toBe('Authorization');
    // The same JSON the manifest carries for it.
    expect(await first.json()).toEqual(manifest.artifacts[0]);
    const again = await app.fetch(artifactPath, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await fromMemoryArtifacts()).toBe(before + 2);
    // A reader gets the same tag, kept private.
    const asReader = await app.fetch(artifactPath, { headers: reader });
    expect(asReader.headers.get('etag')).toBe(etag);
    expect(asReader.headers.get('cache-control')).toBe('private, no-cache');
    // Another artifact id of the same version is not there, from memory or not.
    const missing = await app.fetch(
      '/v1/images/arts/versions/1/artifacts/00000000-0000-4000-8000-000000000000',
    );
    expect(missing.status).toBe(404);

    const withdrawn = await api(app, 'POST', '/v1/images/arts/versions/1/withdraw', writer, {
      reason: 'bad build',
      immediate: true,
    });
    expect(withdrawn.status).toBe(200);
    expect((await app.fetch(artifactPath)).status).toBe(404);
    const forWriter = await app.fetch(artifactPath, { headers: writer });
    expect(forWriter.status).toBe(410);
  });

  it('tags a draft’s artifact by its bytes and shows every change', async () => {
    await api(app, 'POST', '/v1/images/arts/versions', writer, { version: 'draft' });
    const created = await api(app, 'POST', '/v1/images/arts/versions/draft/artifacts', writer, {
      operating_system: 'debian',
      architecture: 'x86_64',
      format: 'qcow2',
      primary_blob_digest: DIGEST,
      primary_blob_size_bytes: 1024,
      primary_media_type: 'application/octet-stream',
    });
    const draftPath = `/v1/images/arts/versions/draft/artifacts/${created.body.id}`;
    const first = await app.fetch(draftPath, { headers: writer });
    const etag = first.headers.get('etag') as string;
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    expect(
      (await app.fetch(draftPath, { headers: { ...writer, 'if-none-match': etag } })).status,
    ).toBe(304);
    expect(
      (
        await api(app, 'POST', `${draftPath}/attachments`, writer, {
          name: 'notes.txt',
          media_type: 'text/plain',
          blob_digest: DIGEST,
          blob_size_bytes: 1024,
        })
      ).status,
    ).toBe(201);
    const changed = await app.fetch(draftPath, { headers: { ...writer, 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    expect(((await changed.json()) as any).attachments).toHaveLength(1);
  });
});
