import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { issueIdentity, type IssuedIdentity } from '../support/auth';
import { sha256Of } from '../support/digests';
import { sql } from '../support/sql';
import { startTestApp, type TestApp } from '../support/test-app';

const KIB = 1024;

/** PUT /v1/blobs/{digest}: a whole blob in one request. */
describe('PUT /v1/blobs/{digest}', () => {
  let app: TestApp;
  let writer: IssuedIdentity;
  let reader: IssuedIdentity;

  beforeAll(async () => {
    app = await startTestApp({ env: { IMGSRV_BLOB_PUT_MAX_SIZE: '256KiB' } });
    writer = await issueIdentity(app, 'content-writer');
    reader = await issueIdentity(app, 'reader');
  }, 60_000);
  afterAll(() => app?.close());

  const put = (digest: string, body: Uint8Array, headers: Record<string, string> = {}) =>
    app.fetch(`/v1/blobs/${digest}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', ...writer.headers, ...headers },
      body,
    });
  const sessionsOf = (digest: string) =>
    sql<{ id: string; state: string }>(
      app.database.url,
      'SELECT id, state FROM upload_session WHERE expected_digest = $1 ORDER BY created_at',
      [digest],
    );
  const trusted = async (digest: string) =>
    (await sql(app.database.url, 'SELECT 1 FROM cas_blob WHERE digest = $1', [digest])).length;

  it('stores, verifies and trusts the blob in one request, and serves its bytes', async () => {
    const data = randomBytes(64 * KIB + 7);
    const digest = sha256Of(data);
    const res = await put(digest, data);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v1/blobs/${digest}`);
    const body = (await res.json()) as { upload_id: string };
    expect(body).toEqual({
      digest,
      size_bytes: data.length,
      state: 'ready',
      upload_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(await trusted(digest)).toBe(1);
    expect(await sessionsOf(digest)).toEqual([{ id: body.upload_id, state: 'ready' }]);

    const read = await app.fetch(`/v1/blobs/${digest}`, { headers: writer.headers });
    expect(read.status).toBe(200);
    expect(Buffer.from(await read.arrayBuffer()).equals(data)).toBe(true);

    // Again: already trusted, 200, and the bytes sent are not needed.
    const again = await put(digest, data);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ digest, size_bytes: data.length, state: 'ready' });
  });

  it('answers 200 to another writer sending a blob it cannot read, reading its body to the end', async () => {
    const other = await issueIdentity(app, 'content-writer', ['*'], 'other writer');
    const data = randomBytes(100 * KIB);
    const digest = sha256Of(data);
    expect((await put(digest, data)).status).toBe(201);
    // Uploaded by the first writer and cited by nothing: the other may not read it...
    expect(
      (await app.fetch(`/v1/blobs/${digest}`, { method: 'HEAD', headers: other.headers })).status,
    ).toBe(404);
    // ...but sending it again is no error: the server has it.
    for (let i = 0; i < 3; i++) {
      const again = await put(digest, data, other.headers);
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ digest, size_bytes: data.length, state: 'ready' });
    }
  });

  it('takes an empty blob', async () => {
    const digest = sha256Of(new Uint8Array(0));
    const res = await put(digest, new Uint8Array(0));
    expect([200, 201]).toContain(res.status);
    expect(await res.json()).toMatchObject({ digest, size_bytes: 0, state: 'ready' });
  });

  it('refuses bytes that are not the digest: 422, nothing trusted, staging freed', async () => {
    const data = randomBytes(10 * KIB);
    const claimed = sha256Of(randomBytes(10 * KIB));
    const res = await put(claimed, data);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    expect(((await res.json()) as { code: string }).code).toBe('UPLOAD_DIGEST_MISMATCH');
    expect(await trusted(claimed)).toBe(0);
    const [session] = await sessionsOf(claimed);
    expect(session.state).toBe('failed');
    expect(existsSync(join(app.dataDir, 'blobs', 'staging', session.id))).toBe(false);
  });

  it('checks a Content-Digest while the body streams', async () => {
    const data = randomBytes(2 * KIB);
    const digest = sha256Of(data);
    const wrong = createHash('sha256').update('other').digest('base64');
    const res = await put(digest, data, { 'content-digest': `sha-256=:${wrong}:` });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { code: string }).code).toBe('UPLOAD_PART_DIGEST_MISMATCH');
    expect(await trusted(digest)).toBe(0);
    // The session is gone from use: aborted, its staging freed.
    const [session] = await sessionsOf(digest);
    expect(session.state).toBe('aborted');
  });

  it('sends a body above the limit to upload sessions (413) without creating one', async () => {
    const data = randomBytes(256 * KIB + 1);
    const digest = sha256Of(data);
    const res = await put(digest, data);
    expect(res.status).toBe(413);
    const problem = (await res.json()) as { code: string; detail: string };
    expect(problem.code).toBe('BLOB_PUT_TOO_LARGE');
    expect(problem.detail).toMatch(/upload session/);
    expect(await sessionsOf(digest)).toEqual([]);
  });

  it('refuses JSON (415), a reader (403) and anonymous callers (401)', async () => {
    const digest = sha256Of(Buffer.from('{}'));
    const json = await put(digest, Buffer.from('{}'), { 'content-type': 'application/json' });
    expect(json.status).toBe(415);
    const byReader = await app.fetch(`/v1/blobs/${digest}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', ...reader.headers },
      body: Buffer.from('{}'),
    });
    expect(byReader.status).toBe(403);
    const anonymous = await app.fetch(`/v1/blobs/${digest}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from('{}'),
    });
    expect(anonymous.status).toBe(401);
    expect(await trusted(digest)).toBe(0);
  });

  it('answers a malformed digest with 400', async () => {
    const res = await put('sha256:nothex', Buffer.from('x'));
    expect(res.status).toBe(400);
  });
});
