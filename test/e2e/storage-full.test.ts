import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rmdir, statfs, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueIdentity, type IssuedIdentity } from '../support/auth';
import { MIB, randomData } from '../support/cas-streams';
import { metric } from '../support/processes';
import { eventually } from '../support/waiting';
import { startTestApp, type TestApp } from '../support/test-app';
import { sha256Of } from '../support/digests';

/**
 * The fs blob store on a real, tiny filesystem (a tmpfs as IMGSRV_DATA_DIR) that the test fills
 * up and frees again: the kernel answers ENOSPC exactly as a full disk does. Mounting needs root
 * (CAP_SYS_ADMIN), as the test machines give.
 */
const TMPFS_SIZE = '32m';
const PART = 5 * MIB;

interface Session {
  id: string;
  state: string;
  failure_message: string | null;
  parts?: { part_number: number }[];
}

/** Fills the filesystem of `dir` to the last page with one file; answers its path. */
async function fill(dir: string): Promise<string> {
  const path = join(dir, 'filler');
  const file = await open(path, 'a');
  try {
    for (const size of [MIB, 4096]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          await file.write(chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    await file.close();
  }
  return path;
}

describe('the fs blob store running out of space', () => {
  let dataDir: string;
  let app: TestApp;
  let writer: IssuedIdentity;
  let filler: string | null = null;

  const json = () => ({ ...writer.headers, 'content-type': 'application/json' });
  const available = async () => {
    const s = await statfs(dataDir);
    return s.bavail * s.bsize;
  };
  const fullCount = async (operation: string) =>
    (await metric(app, `imgsrv_blob_store_full_total{operation="${operation}"}`)) ?? 0;

  async function begin(data: Buffer): Promise<Session> {
    const res = await app.fetch('/v1/uploads', {
      method: 'POST',
      headers: json(),
      body: JSON.stringify({ expected_digest: sha256Of(data), expected_size_bytes: data.length }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as Session;
  }

  function putPart(id: string, n: number, bytes: Buffer) {
    return app.fetch(`/v1/uploads/${id}/parts/${n}`, {
      method: 'PUT',
      headers: { ...writer.headers, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
  }

  async function putParts(id: string, data: Buffer, order: number[]) {
    const parts = [data.subarray(0, PART), data.subarray(PART)];
    const listed: { number: number; etag: string; size_bytes: number }[] = [];
    for (const n of order) {
      const res = await putPart(id, n, parts[n - 1]);
      expect(res.status).toBe(200);
      const part = (await res.json()) as { etag: string; size_bytes: number };
      listed.push({ number: n, etag: part.etag, size_bytes: part.size_bytes });
    }
    return listed.sort((a, b) => a.number - b.number);
  }

  async function complete(id: string, parts: unknown[]) {
    return app.fetch(`/v1/uploads/${id}/complete`, {
      method: 'POST',
      headers: json(),
      body: JSON.stringify({ parts }),
    });
  }

  async function session(id: string): Promise<Session> {
    return (await (
      await app.fetch(`/v1/uploads/${id}`, { headers: writer.headers })
    ).json()) as Session;
  }

  async function readiness() {
    const res = await app.fetch('/readyz');
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: (await res.json()) as Record<string, unknown>,
    };
  }

  async function freeSpace() {
    if (filler) await unlink(filler);
    filler = null;
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'imgsrv-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', dataDir]);
    app = await startTestApp({
      env: {
        IMGSRV_DATA_DIR: dataDir,
        // Workers look for stalled verifications often, so a retry comes soon after space returns.
        IMGSRV_CAS_SWEEP_INTERVAL: '1s',
        IMGSRV_UPLOAD_VERIFY_LEASE: '4s',
      },
    });
    writer = await issueIdentity(app, 'content-writer');
  });
  afterAll(async () => {
    await app?.close();
    execFileSync('umount', [dataDir]);
    await rmdir(dataDir);
  });
  afterEach(() => freeSpace());

  it('answers a part that does not fit with 507 STORAGE_FULL, is not ready, and takes the part again once space returns', async () => {
    // The second part is large enough to be still arriving when the store refuses it.
    const data = randomData(PART + 3 * MIB);
    const upload = await begin(data);
    const [first] = await putParts(upload.id, data, [1]);
    const before = await fullCount('part');

    filler = await fill(dataDir);
    const refused = await putPart(upload.id, 2, data.subarray(PART));
    expect(refused.status).toBe(507);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await refused.json()).toMatchObject({ status: 507, code: 'STORAGE_FULL' });
    expect(await fullCount('part')).toBe(before + 1);

    // The session is untouched: still open, with the part it had.
    const kept = await session(upload.id);
    expect(kept.state).toBe('uploading');
    expect(kept.parts?.map((p) => p.part_number)).toEqual([1]);

    const full = await readiness();
    expect(full.status).toBe(503);
    expect(full.type).toMatch(/^application\/problem\+json/);
    expect(full.body).toMatchObject({
      code: 'NOT_READY',
      checks: { database: 'ok', redis: 'ok', blob_store: 'full' },
    });
    expect(full.body.detail).toMatch(/blob_store/);

    await freeSpace();
    expect((await readiness()).status).toBe(200);
    const retried = await putPart(upload.id, 2, data.subarray(PART));
    expect(retried.status).toBe(200);
    const second = (await retried.json()) as { etag: string; size_bytes: number };
    const done = await complete(upload.id, [
      first,
      { number: 2, etag: second.etag, size_bytes: second.size_bytes },
    ]);
    expect(done.status).toBe(200);
    expect(((await done.json()) as Session).state).toBe('ready');
    const blob = await app.fetch(`/v1/blobs/${sha256Of(data)}`, { headers: writer.headers });
    expect(Buffer.from(await blob.arrayBuffer()).equals(data)).toBe(true);
  });

  it('says so on a verification that ran out of space, and abort frees its staged bytes', async () => {
    const data = randomData(PART + 1000);
    const upload = await begin(data);
    // Sent out of order, the parts are joined by copying: assembling needs their size again.
    const listed = await putParts(upload.id, data, [2, 1]);
    const before = await fullCount('verification');

    filler = await fill(dataDir);
    const done = await complete(upload.id, listed);
    expect(done.status).toBe(200);
    const answered = (await done.json()) as Session;
    expect(answered.state).toBe('verifying');
    expect(answered.failure_message).toMatch(/out of space/);
    expect(await session(upload.id)).toMatchObject({
      state: 'verifying',
      failure_message: expect.stringMatching(/out of space/),
    });
    expect(await fullCount('verification')).toBeGreaterThan(before);
    expect((await readiness()).body).toMatchObject({ checks: { blob_store: 'full' } });

    const freeBefore = await available();
    const aborted = await app.fetch(`/v1/uploads/${upload.id}/abort`, {
      method: 'POST',
      headers: writer.headers,
    });
    expect(aborted.status).toBe(200);
    expect(((await aborted.json()) as Session).state).toBe('aborted');
    expect(existsSync(join(dataDir, 'blobs', 'staging', upload.id))).toBe(false);
    expect(await available()).toBeGreaterThanOrEqual(freeBefore + data.length);
    expect((await session(upload.id)).state).toBe('aborted');
  });

  it('verifies on a worker once space returns, as for any store failure', async () => {
    const data = randomData(PART + 1000);
    const upload = await begin(data);
    const listed = await putParts(upload.id, data, [2, 1]);

    filler = await fill(dataDir);
    const done = await complete(upload.id, listed);
    expect(((await done.json()) as Session).state).toBe('verifying');

    await freeSpace();
    const ready = await eventually('the worker verifies the upload', async () => {
      const s = await session(upload.id);
      return s.state === 'ready' ? s : undefined;
    });
    expect(ready.failure_message).toBeNull();
    const blob = await app.fetch(`/v1/blobs/${sha256Of(data)}`, { headers: writer.headers });
    expect(Buffer.from(await blob.arrayBuffer()).equals(data)).toBe(true);
    expect((await readiness()).status).toBe(200);
  });
});
