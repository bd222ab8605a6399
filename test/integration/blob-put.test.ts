import { randomUUID } from 'node:crypto';
import { BlobPut } from '../../src/cas/blob-put';
import { WHOLE_OBJECT_ETAG } from '../../src/cas/blob-store/blob-store';
import { casKeyOf } from '../../src/cas/digest';
import { UploadSessionRepository } from '../../src/cas/upload-session.repository';
import { UploadVerifier } from '../../src/cas/upload-verifier';
import {
  ACTOR,
  startCasApp,
  startS3Fixture,
  type CasTestApp,
  type DriverName,
  type S3Fixture,
} from '../support/cas-app';
import { bodyOf, brokenBodyOf, randomData, readAll } from '../support/cas-streams';
import { sha256Of } from '../support/digests';
import { waitUntil } from '../support/waiting';

/**
 * The one-request upload's own path (BlobPut) on both stores: what it leaves behind when its
 * request fails or its process dies at each point, and how a worker's verifier finishes it.
 */
describe.each<DriverName>(['fs', 's3'])('a whole blob in one request (%s store)', (driver) => {
  let s3: S3Fixture | null = null;
  let t: CasTestApp;

  beforeAll(async () => {
    s3 = driver === 's3' ? await startS3Fixture() : null;
    t = await startCasApp({ s3 });
  });
  afterAll(async () => {
    await t.close();
    await s3?.s3.close();
  });

  const sessionOf = async (id: string) =>
    (
      await t.sql<{ state: string; staging_cleared_at: Date | null; verify_attempt: number }>(
        'SELECT state, staging_cleared_at, verify_attempt FROM upload_session WHERE id = $1',
        [id],
      )
    )[0];
  const trusted = async (digest: string) =>
    (await t.sql('SELECT 1 FROM cas_blob WHERE digest = $1', [digest])).length === 1;
  const auditOf = async (id: string) =>
    (
      await t.sql<{ action: string }>(
        'SELECT action FROM audit_event WHERE target_id = $1 ORDER BY id',
        [id],
      )
    ).map((r) => r.action);

  /** What a request has done once it opened its session: the session, claimed under a lease. */
  const claimed = async (data: Buffer, leaseMs = 60_000) => {
    const claim = await t.get(UploadSessionRepository).insertClaimed({
      id: randomUUID(),
      expectedDigest: sha256Of(data),
      expectedSizeBytes: data.length,
      mediaTypeHint: null,
      completedParts: [{ number: 1, etag: WHOLE_OBJECT_ETAG, size_bytes: data.length }],
      owner: randomUUID(),
      leaseMs,
      ttlMs: 3_600_000,
      audit: { principalId: null, principalName: 'test', requestId: null, detail: {} },
    });
    if (!claim) throw new Error('the digest is trusted already');
    return claim;
  };
  /**
   * The process dies: its lease lapses, the sweeper finds the session, a verifier runs (here,
   * called at once rather than through the queue, which would race the call).
   */
  const afterTheCrash = async (id: string) => {
    await t.sql('UPDATE upload_session SET verify_lease_until = now() WHERE id = $1', [id]);
    expect(await t.get(UploadSessionRepository).findUnclaimedVerifications(100)).toContain(id);
    return t.get(UploadVerifier).verify(id);
  };

  it('trusts the blob and closes the session in one request, recording begin and complete', async () => {
    const data = randomData(300_000);
    const digest = sha256Of(data);
    const { session, created } = await t
      .get(BlobPut)
      .put({ digest, body: bodyOf(data), contentLength: data.length }, ACTOR);
    expect(created).toBe(true);
    expect(session.state).toBe('ready');
    expect(await sessionOf(session.id)).toMatchObject({
      state: 'ready',
      staging_cleared_at: expect.any(Date),
    });
    expect(await trusted(digest)).toBe(true);
    expect(await t.store.statStaged({ id: session.id, token: null })).toBeNull();
    expect((await readAll((await t.cas.readBlob(digest)).stream)).equals(data)).toBe(true);
    expect(await auditOf(session.id)).toEqual(['upload.begin', 'upload.complete']);
  });

  it('ends the session and frees its staging when the client goes away mid-body', async () => {
    const data = randomData(200_000);
    const digest = sha256Of(data);
    await expect(
      t
        .get(BlobPut)
        .put({ digest, body: brokenBodyOf(data, 50_000), contentLength: data.length }, ACTOR),
    ).rejects.toThrow();
    const [row] = await t.sql<{ id: string }>(
      'SELECT id FROM upload_session WHERE expected_digest = $1',
      [digest],
    );
    expect(await sessionOf(row.id)).toMatchObject({
      state: 'aborted',
      staging_cleared_at: expect.any(Date),
    });
    expect(await t.store.statStaged({ id: row.id, token: null })).toBeNull();
    expect(await trusted(digest)).toBe(false);
    expect(await auditOf(row.id)).toEqual(['upload.begin', 'upload.abort']);
  });

  it('a process that died with the whole blob staged: a worker verifies and trusts it', async () => {
    const data = randomData(150_000);
    const claim = await claimed(data);
    await t.store.putStaged({ id: claim.session.id, token: null }, bodyOf(data), data.length);

    // A live claim keeps every other verifier out...
    expect(await t.get(UploadVerifier).verify(claim.session.id)).toBe('busy');
    // ...until its lease lapses.
    expect(await afterTheCrash(claim.session.id)).toBe('ready');
    expect(await sessionOf(claim.session.id)).toMatchObject({ state: 'ready', verify_attempt: 2 });
    expect(await trusted(sha256Of(data))).toBe(true);
    expect((await readAll((await t.cas.readBlob(sha256Of(data))).stream)).equals(data)).toBe(true);
  });

  it('a process that died mid-body: a worker fails the session and frees its staging', async () => {
    const data = randomData(150_000);
    const claim = await claimed(data);
    // What a write cut short leaves: fewer bytes than the session expects (or none at all).
    await t.store.putStaged(
      { id: claim.session.id, token: null },
      bodyOf(data.subarray(0, 40_000)),
      40_000,
    );
    expect(await afterTheCrash(claim.session.id)).toBe('failed');
    expect(await sessionOf(claim.session.id)).toMatchObject({
      state: 'failed',
      staging_cleared_at: expect.any(Date),
    });
    expect(await t.store.statStaged({ id: claim.session.id, token: null })).toBeNull();
    expect(await trusted(sha256Of(data))).toBe(false);

    // A process that died before its first byte: the same.
    const none = await claimed(randomData(10));
    expect(await afterTheCrash(none.session.id)).toBe('failed');
  });

  it('hands a verified blob to a worker (202) while the GC deletes the same object, which then trusts it', async () => {
    const data = randomData(20_000);
    const digest = sha256Of(data);
    const key = casKeyOf(digest);
    await t.sql(
      `INSERT INTO cas_object_deletion (object_key, digest, delete_after, claimed_by, claimed_until)
       VALUES ($1, $2, now(), 'deleter', now() + interval '1 hour')`,
      [key, digest],
    );
    const { session } = await t
      .get(BlobPut)
      .put({ digest, body: bodyOf(data), contentLength: data.length }, ACTOR);
    expect(session.state).toBe('verifying');
    expect(await trusted(digest)).toBe(false);

    // The deleter finishes (its object was the one this upload promoted: gone again), then the
    // worker's retry promotes and trusts the staged bytes.
    await t.sql('DELETE FROM cas_object_deletion WHERE object_key = $1', [key]);
    await t.store.delete(key);
    await t.sql('UPDATE upload_session SET verify_lease_until = now() WHERE id = $1', [session.id]);
    // The queue's own worker may take that retry first (this call then finds it busy); either
    // way the session ends ready and the blob trusted.
    const outcome = await t.get(UploadVerifier).verify(session.id);
    expect(['ready', 'busy']).toContain(outcome);
    await waitUntil(
      () => sessionOf(session.id),
      (s) => s.state === 'ready',
    );
    expect(await trusted(digest)).toBe(true);
    expect((await readAll((await t.cas.readBlob(digest)).stream)).equals(data)).toBe(true);
  });
});
