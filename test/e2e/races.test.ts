import { randomBytes } from 'node:crypto';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { startTestApp, type TestApp } from '../support/test-app';
import { uploadBlob } from '../support/uploads';
import { sha256Of } from '../support/digests';

/**
 * Requests that race one another over the same rows or files answer a 4xx that names what
 * happened, never 500 (both found by the OpenAPI fuzz run, each failing most tries before).
 */
describe('racing requests', () => {
  let app: TestApp;
  let headers: Record<string, string>;
  const ROUNDS = 15;

  beforeAll(async () => {
    app = await startTestApp();
    headers = (await issueIdentity(app, 'content-writer')).headers;
  });
  afterAll(() => app?.close());

  it('adding an attachment while its artifact is deleted answers 201 or 404', async () => {
    const root = await uploadBlob(app, headers, randomBytes(4096));
    const meta = await uploadBlob(app, headers, randomBytes(512));
    expect((await api(app, 'POST', '/v1/images', headers, { name: 'race' })).status).toBe(201);
    expect(
      (await api(app, 'POST', '/v1/images/race/versions', headers, { version: '1' })).status,
    ).toBe(201);
    const base = '/v1/images/race/versions/1/artifacts';
    const seen = new Set<string>();
    for (let i = 0; i < ROUNDS; i++) {
      const artifact = await api(app, 'POST', base, headers, {
        operating_system: 'debian',
        architecture: 'amd64',
        format: 'qcow2',
        variant: `v${i}`,
        primary_blob_digest: root.digest,
        primary_blob_size_bytes: root.size,
        primary_media_type: 'application/x-qemu-disk',
      });
      expect(artifact.status).toBe(201);
      const [attach, del] = await Promise.all([
        api(app, 'POST', `${base}/${artifact.body.id}/attachments`, headers, {
          name: 'incus.tar.xz',
          media_type: 'application/x-xz',
          blob_digest: meta.digest,
          blob_size_bytes: meta.size,
        }),
        api(app, 'DELETE', `${base}/${artifact.body.id}`, headers),
      ]);
      seen.add(`${attach.status} ${attach.body?.code ?? ''}`);
      expect([201, 404]).toContain(attach.status);
      expect(del.status).toBe(204);
    }
    expect([...seen].every((s) => s === '201 ' || s === '404 ARTIFACT_NOT_FOUND')).toBe(true);
  });

  it('a part sent while its session is aborted answers 200 or 409 UPLOAD_NOT_OPEN', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = randomBytes(64 * 1024);
      const begin = await api(app, 'POST', '/v1/uploads', headers, {
        expected_digest: sha256Of(bytes),
        expected_size_bytes: bytes.length,
      });
      expect(begin.status).toBe(201);
      const id = begin.body.id as string;
      const [part, abort] = await Promise.all([
        app.fetch(`/v1/uploads/${id}/parts/1`, {
          method: 'PUT',
          headers: { ...headers, 'content-type': 'application/octet-stream' },
          body: bytes,
        }),
        app.fetch(`/v1/uploads/${id}/abort`, { method: 'POST', headers }),
      ]);
      const body = (await part.json()) as { code?: string };
      expect({ status: part.status, code: body.code }).toEqual(
        part.status === 200
          ? { status: 200, code: undefined }
          : { status: 409, code: 'UPLOAD_NOT_OPEN' },
      );
      expect(abort.status).toBe(200);
    }
  });
});
