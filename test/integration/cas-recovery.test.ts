import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { casKeyOf } from '../../src/cas/digest';
import { UploadSessionRepository } from '../../src/cas/upload-session.repository';
import { UploadVerifier } from '../../src/cas/upload-verifier';
import {
  ACTOR,
  split,
  startCasApp,
  startS3Fixture,
  uploadParts,
  type CasTestApp,
  type DriverName,
  type S3Fixture,
} from '../support/cas-app';
import { waitUntil } from '../support/waiting';
import { bodyOf, brokenBodyOf, MIB, randomData, readAll } from '../support/cas-streams';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { sha256Of } from '../support/digests';

describe.each<DriverName>(['fs', 's3'])('verification handed to a worker (%s store)', (driver) => {
  let s3: S3Fixture | null = null;
  let t: CasTestApp;

  beforeAll(async () => {
    s3 = driver === 's3' ? await startS3Fixture() : null;
    // No time to verify within the request: complete always hands over to the BullMQ worker.
    t = await startCasApp({ s3, env: { IMGSRV_UPLOAD_VERIFY_WAIT: '0s' } });
  });
  afterAll(async () => {
    await t.close();
    await s3?.s3.close();
  });

  it('answers complete before verifying, and a worker job makes the blob ready', async () => {
    const data = randomData(6 * MIB);
    const { session, listed } = await uploadParts(t.cas, data, split(data, 5 * MIB), [2, 1]);
    const answered = await t.cas.complete(session.id, listed, ACTOR);
    expect(['completed', 'verifying', 'ready']).toContain(answered.state);
    const done = await waitUntil(
      () => t.cas.getSession(session.id, ACTOR),
      (s) => s.state === 'ready' || s.state === 'failed',
    );
    expect(done.state).toBe('ready');
    const [row] = await t.sql<{ verify_attempt: number; verify_owner: string | null }>(
      'SELECT verify_attempt, verify_owner FROM upload_session WHERE id = $1',
      [session.id],
    );
    expect(row.verify_attempt).toBe(1);
    expect(row.verify_owner).not.toBeNull();
    expect((await readAll((await t.cas.readBlob(sha256Of(data))).stream)).equals(data)).toBe(true);
  });

  it('fails a wrong upload from the worker too', async () => {
    const data = randomData(1000);
    const { session } = await t.cas.begin(
      { expectedDigest: sha256Of(randomData(3)), expectedSizeBytes: 1000 },
      ACTOR,
    );
    const put = await t.cas.putPart(
      { uploadId: session.id, partNumber: 1, body: bodyOf(data), contentLength: 1000 },
      ACTOR,
    );
    await t.cas.complete(session.id, [{ number: 1, etag: put.etag, sizeBytes: 1000 }], ACTOR);
    const done = await waitUntil(
      () => t.cas.getSession(session.id, ACTOR),
      (s) => s.state === 'ready' || s.state === 'failed',
    );
    expect(done).toMatchObject({
      state: 'failed',
      failureMessage: expect.stringContaining(sha256Of(data)),
    });
  });
});

describe('resuming an upload in another process', () => {
  let database: TestDatabase;
  let dataDir: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'imgsrv-cas-resume-'));
  });
  afterAll(async () => {
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('continues the running hash from the state the first process saved', async () => {
    const data = randomData(15 * MIB + 5);
    const parts = split(data, 5 * MIB);
    const env = { IMGSRV_DATA_DIR: dataDir };

    const first = await startCasApp({ env, database });
    const { session } = await first.cas.begin(
      { expectedDigest: sha256Of(data), expectedSizeBytes: data.length },
      ACTOR,
    );
    for (const n of [1, 2]) {
      await first.cas.putPart(
        {
          uploadId: session.id,
          partNumber: n,
          body: bodyOf(parts[n - 1]),
          contentLength: parts[n - 1].length,
        },
        ACTOR,
      );
    }
    // The client's connection breaks in the middle of part 3, and the process goes away.
    const broken = await first.cas
      .putPart(
        {
          uploadId: session.id,
          partNumber: 3,
          body: brokenBodyOf(parts[2], MIB),
          contentLength: parts[2].length,
        },
        ACTOR,
      )
      .catch((e: { code?: string }) => e.code);
    expect(broken).toBe('UPLOAD_PART_INCOMPLETE');
    await first.close();

    const second = await startCasApp({ env, database });
    try {
      const resumed = await second.cas.getSession(session.id, ACTOR);
      expect(resumed.parts.map((p) => p.partNumber)).toEqual([1, 2]);
      for (const n of [3, 4]) {
        await second.cas.putPart(
          {
            uploadId: session.id,
            partNumber: n,
            body: bodyOf(parts[n - 1]),
            contentLength: parts[n - 1].length,
          },
          ACTOR,
        );
      }
      const chain = await second.sql<{
        part_number: number;
        chain_prev_part: number | null;
        has_state: boolean;
      }>(
        `SELECT part_number, chain_prev_part, hash_state IS NOT NULL AS has_state
           FROM upload_part WHERE upload_id = $1 ORDER BY part_number`,
        [session.id],
      );
      expect(chain).toEqual([
        { part_number: 1, chain_prev_part: null, has_state: true },
        { part_number: 2, chain_prev_part: 1, has_state: true },
        { part_number: 3, chain_prev_part: 2, has_state: true },
        { part_number: 4, chain_prev_part: 3, has_state: true },
      ]);
      const listed = (await second.cas.getSession(session.id, ACTOR)).parts.map((p) => ({
        number: p.partNumber,
        etag: p.etag,
        sizeBytes: p.sizeBytes,
      }));
      expect((await second.cas.complete(session.id, listed, ACTOR)).state).toBe('ready');
      expect((await readAll((await second.cas.readBlob(sha256Of(data))).stream)).equals(data)).toBe(
        true,
      );
    } finally {
      await second.close();
    }
  });
});

describe('a verifier that dies', () => {
  let t: CasTestApp;

  beforeAll(async () => {
    // An API-only process: nothing verifies in the background unless the test says so.
    t = await startCasApp({ env: { IMGSRV_ROLES: 'api', IMGSRV_UPLOAD_VERIFY_WAIT: '0s' } });
  });
  afterAll(() => t.close());

  it('between promotion and the trusted row leaves nothing served, and a retry finishes', async () => {
    const data = randomData(2 * MIB);
    const digest = sha256Of(data);
    const { session, listed } = await uploadParts(t.cas, data, [data]);
    expect((await t.cas.complete(session.id, listed, ACTOR)).state).toBe('completed');

    // What the crashed verifier got done: the staged object assembled and promoted to its key.
    const staging = { id: session.id, token: null };
    await t.store.assemble(staging, [
      { partNumber: 1, etag: listed[0].etag, sizeBytes: data.length },
    ]);
    expect(await t.store.promote(staging, casKeyOf(digest))).toBe('created');
    await t.sql(
      `UPDATE upload_session SET state = 'verifying', verify_owner = 'dead', verify_attempt = 1,
              assembled_at = now(), verify_lease_until = now() - interval '1 second' WHERE id = $1`,
      [session.id],
    );

    // The object exists, but without its row nothing serves it.
    expect(await t.store.stat(casKeyOf(digest))).toEqual({ sizeBytes: data.length });
    expect(await t.sql('SELECT 1 FROM cas_blob WHERE digest = $1', [digest])).toEqual([]);
    await expect(t.cas.getBlob(digest)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    await expect(t.cas.readBlob(digest)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });

    // The sweeper finds the lapsed lease; the retry it wakes finishes the job.
    expect(await t.maintenance.requeueVerifications()).toBeGreaterThanOrEqual(1);
    expect(await t.get(UploadVerifier).verify(session.id)).toBe('ready');
    const [row] = await t.sql<{ state: string; verify_attempt: number }>(
      'SELECT state, verify_attempt FROM upload_session WHERE id = $1',
      [session.id],
    );
    expect(row).toEqual({ state: 'ready', verify_attempt: 2 });
    expect((await readAll((await t.cas.readBlob(digest)).stream)).equals(data)).toBe(true);
  });

  it('fences a verifier whose lease was taken over', async () => {
    const data = randomData(1000);
    const { session, listed } = await uploadParts(t.cas, data, [data]);
    await t.cas.complete(session.id, listed, ACTOR);
    const sessions = t.get(UploadSessionRepository);

    const a = await sessions.claimVerification(session.id, 'worker-a', 60_000);
    expect(a?.attempt).toBe(1);
    expect(await sessions.claimVerification(session.id, 'worker-b', 60_000)).toBeNull();
    expect(await t.get(UploadVerifier).verify(session.id)).toBe('busy');

    await t.sql(`UPDATE upload_session SET verify_lease_until = now() WHERE id = $1`, [session.id]);
    const b = await sessions.claimVerification(session.id, 'worker-b', 60_000);
    expect(b?.attempt).toBe(2);
    if (!a || !b) throw new Error('claims expected');
    expect(await sessions.renewLease(a, 60_000)).toBe(false);
    expect(await sessions.updateFenced(t.dataSource.manager, a, { state: 'ready' })).toBe(false);
    expect(await sessions.updateFenced(t.dataSource.manager, b, { assembledAt: new Date() })).toBe(
      true,
    );
  });

  it('removes staging of finished sessions and staging no session owns', async () => {
    const data = randomData(1000);
    const { session } = await uploadParts(t.cas, data, [data]);
    await t.cas.abort(session.id, ACTOR);
    // A crash after abort left the staging in place; another staging area has no session at all.
    await t.store.createStaging(session.id);
    await t.sql('UPDATE upload_session SET staging_cleared_at = NULL WHERE id = $1', [session.id]);
    const orphan = await t.store.createStaging(randomUUID());
    const stagingDir = (id: string) => join(t.dataDir, 'blobs', 'staging', id);
    expect(existsSync(stagingDir(session.id))).toBe(true);
    expect(existsSync(stagingDir(orphan.id))).toBe(true);

    expect(await t.maintenance.cleanStaging()).toBeGreaterThanOrEqual(2);
    expect(existsSync(stagingDir(session.id))).toBe(false);
    expect(existsSync(stagingDir(orphan.id))).toBe(false);
    const [row] = await t.sql<{ staging_cleared_at: Date | null }>(
      'SELECT staging_cleared_at FROM upload_session WHERE id = $1',
      [session.id],
    );
    expect(row.staging_cleared_at).not.toBeNull();
  });

  it('keeps the staging of sessions still in progress', async () => {
    const data = randomData(1000);
    const { session } = await uploadParts(t.cas, data, [data]);
    await t.maintenance.cleanStaging();
    expect(existsSync(join(t.dataDir, 'blobs', 'staging', session.id))).toBe(true);
    expect((await t.cas.getSession(session.id, ACTOR)).parts).toHaveLength(1);
  });
});
