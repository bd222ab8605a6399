import { existsSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { casKeyOf } from '../../src/cas/digest';
import { DomainError } from '../../src/common/errors/domain-error';
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
import { bodyOf, brokenBodyOf, MIB, randomData, readAll } from '../support/cas-streams';
import { sha256Of } from '../support/digests';

const DRIVERS: DriverName[] = ['fs', 's3'];

/** The DomainError a promise rejects with (fails the test if it resolves or throws another). */
async function domainError(work: Promise<unknown>): Promise<DomainError> {
  const error = await work.then(
    () => {
      throw new Error('expected a DomainError, but the call succeeded');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

describe.each(DRIVERS)('uploads to the %s store', (driver) => {
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

  const stagingDir = (id: string) => join(t.dataDir, 'blobs', 'staging', id);
  const blobRows = (digest: string) =>
    t.sql<{ size_bytes: string }>('SELECT size_bytes FROM cas_blob WHERE digest = $1', [digest]);

  describe('the whole protocol, parts in order', () => {
    const data = randomData(12 * MIB + 777);
    const digest = sha256Of(data);

    it('goes from begin to ready, hashing parts as they arrive, and serves the blob', async () => {
      const { session, listed } = await uploadParts(t.cas, data, split(data, 5 * MIB));
      expect(session).toMatchObject({
        state: 'created',
        expectedDigest: digest,
        expectedSizeBytes: data.length,
      });

      const detail = await t.cas.getSession(session.id, ACTOR);
      expect(detail.state).toBe('uploading');
      expect(detail.parts).toEqual(
        listed.map((p) => ({ partNumber: p.number, sizeBytes: p.sizeBytes, etag: p.etag })),
      );
      // The running hash covers every part: each saved its state, continuing from the one before.
      const chain = await t.sql<{
        part_number: number;
        has_state: boolean;
        chain_prev_part: number | null;
      }>(
        `SELECT part_number, hash_state IS NOT NULL AS has_state, chain_prev_part
           FROM upload_part WHERE upload_id = $1 ORDER BY part_number`,
        [session.id],
      );
      expect(chain).toEqual([
        { part_number: 1, has_state: true, chain_prev_part: null },
        { part_number: 2, has_state: true, chain_prev_part: 1 },
        { part_number: 3, has_state: true, chain_prev_part: 2 },
      ]);

      const done = await t.cas.complete(session.id, listed, ACTOR);
      expect(done.state).toBe('ready');
      expect(await blobRows(digest)).toEqual([{ size_bytes: String(data.length) }]);
      expect(await t.store.stat(casKeyOf(digest))).toEqual({ sizeBytes: data.length });
      expect(await t.cas.getBlob(digest)).toMatchObject({ digest, sizeBytes: data.length });
      const { stream } = await t.cas.readBlob(digest);
      expect(
        createHash('sha256')
          .update(await readAll(stream))
          .digest('hex'),
      ).toBe(digest.slice(7));
      const range = await t.cas.readBlob(digest, { start: 5 * MIB - 2, end: 5 * MIB + 1 });
      expect((await readAll(range.stream)).equals(data.subarray(5 * MIB - 2, 5 * MIB + 2))).toBe(
        true,
      );

      const [row] = await t.sql<{ staging_cleared_at: Date | null }>(
        'SELECT staging_cleared_at FROM upload_session WHERE id = $1',
        [session.id],
      );
      expect(row.staging_cleared_at).not.toBeNull();
      expect(
        await t.store.statStaged({ id: session.id, token: null }).catch(() => null),
      ).toBeNull();
      if (driver === 'fs') expect(existsSync(stagingDir(session.id))).toBe(false);
    });

    it('answers a repeated complete with the session unchanged', async () => {
      const [row] = await t.sql<{ id: string }>(
        `SELECT id FROM upload_session WHERE expected_digest = $1 AND state = 'ready'`,
        [digest],
      );
      const parts = await t.cas.getSession(row.id, ACTOR);
      const listed = parts.parts.map((p) => ({
        number: p.partNumber,
        etag: p.etag,
        sizeBytes: p.sizeBytes,
      }));
      const again = await t.cas.complete(row.id, listed, ACTOR);
      expect(again).toMatchObject({ id: row.id, state: 'ready', updatedAt: parts.updatedAt });
      const other = await domainError(t.cas.complete(row.id, listed.slice(0, 2), ACTOR));
      expect(other.code).toBe('UPLOAD_ALREADY_COMPLETED');
    });

    it('short-circuits a begin for a trusted digest, and refuses another size for it', async () => {
      const again = await t.cas.begin(
        { expectedDigest: digest, expectedSizeBytes: data.length },
        ACTOR,
      );
      expect(again.created).toBe(false);
      expect(again.session.state).toBe('ready');
      expect((await t.cas.getSession(again.session.id, ACTOR)).parts).toEqual([]);
      const conflict = await domainError(
        t.cas.begin({ expectedDigest: digest, expectedSizeBytes: data.length + 1 }, ACTOR),
      );
      expect(conflict).toMatchObject({ code: 'UPLOAD_SIZE_CONFLICT' });
      const part = await domainError(
        t.cas.putPart(
          {
            uploadId: again.session.id,
            partNumber: 1,
            body: bodyOf(data.subarray(0, 10)),
            contentLength: 10,
          },
          ACTOR,
        ),
      );
      expect(part).toMatchObject({ code: 'UPLOAD_NOT_OPEN', extensions: { state: 'ready' } });
    });
  });

  it('verifies parts sent out of order by reading the staged object', async () => {
    const data = randomData(11 * MIB);
    const { session, listed } = await uploadParts(t.cas, data, split(data, 5 * MIB), [3, 1, 2]);
    const links = await t.sql<{ part_number: number; has_state: boolean }>(
      'SELECT part_number, hash_state IS NOT NULL AS has_state FROM upload_part WHERE upload_id = $1 ORDER BY 1',
      [session.id],
    );
    // Part 1 starts the chain, part 2 continues it; part 3 came first and could not be hashed.
    expect(links.map((l) => l.has_state)).toEqual([true, true, false]);
    expect((await t.cas.complete(session.id, listed, ACTOR)).state).toBe('ready');
    expect(await blobRows(sha256Of(data))).toHaveLength(1);
  });

  it('lets a part that arrives while the one before it streams wait for it, and continue its hash', async () => {
    // Parallel parts, as the CLI sends them: part 2's request comes while part 1 still streams.
    const data = randomData(11 * MIB);
    const parts = split(data, 5 * MIB);
    const { session } = await t.cas.begin(
      { expectedDigest: sha256Of(data), expectedSizeBytes: data.length },
      ACTOR,
    );
    const first = new PassThrough();
    const put = (n: number, body: Readable) =>
      t.cas.putPart(
        { uploadId: session.id, partNumber: n, body, contentLength: parts[n - 1].length },
        ACTOR,
      );
    const one = put(1, first);
    first.write(parts[0].subarray(0, MIB));
    await new Promise((r) => setTimeout(r, 200));
    const two = put(2, bodyOf(parts[1]));
    await new Promise((r) => setTimeout(r, 200));
    first.end(parts[0].subarray(MIB));
    const three = put(3, bodyOf(parts[2]));
    const listed = (await Promise.all([one, two, three])).map((p) => ({
      number: p.partNumber,
      etag: p.etag,
      sizeBytes: p.sizeBytes,
    }));
    const links = await t.sql<{ part_number: number; chain_prev_part: number | null }>(
      `SELECT part_number, chain_prev_part FROM upload_part
        WHERE upload_id = $1 AND hash_state IS NOT NULL ORDER BY 1`,
      [session.id],
    );
    expect(links).toEqual([
      { part_number: 1, chain_prev_part: null },
      { part_number: 2, chain_prev_part: 1 },
      { part_number: 3, chain_prev_part: 2 },
    ]);
    expect((await t.cas.complete(session.id, listed, ACTOR)).state).toBe('ready');
    expect(await blobRows(sha256Of(data))).toHaveLength(1);
  });

  it('chains parallel parts whose requests come in another order', async () => {
    const data = randomData(11 * MIB);
    const parts = split(data, 5 * MIB);
    const { session } = await t.cas.begin(
      { expectedDigest: sha256Of(data), expectedSizeBytes: data.length },
      ACTOR,
    );
    const put = (n: number) =>
      t.cas.putPart(
        {
          uploadId: session.id,
          partNumber: n,
          body: bodyOf(parts[n - 1]),
          contentLength: parts[n - 1].length,
        },
        ACTOR,
      );
    // Parts 3 and 2 come a moment before part 1, as parallel requests may.
    const three = put(3);
    const two = put(2);
    await new Promise((r) => setTimeout(r, 30));
    const one = put(1);
    const listed = (await Promise.all([one, two, three])).map((p) => ({
      number: p.partNumber,
      etag: p.etag,
      sizeBytes: p.sizeBytes,
    }));
    const links = await t.sql<{ part_number: number; chain_prev_part: number | null }>(
      `SELECT part_number, chain_prev_part FROM upload_part
        WHERE upload_id = $1 AND hash_state IS NOT NULL ORDER BY 1`,
      [session.id],
    );
    expect(links.map((l) => l.part_number)).toEqual([1, 2, 3]);
    expect((await t.cas.complete(session.id, listed, ACTOR)).state).toBe('ready');
  });

  it('stops waiting for a predecessor that stalls, and hashes the part at completion', async () => {
    const data = randomData(6 * MIB);
    const parts = split(data, 5 * MIB);
    const { session } = await t.cas.begin(
      { expectedDigest: sha256Of(data), expectedSizeBytes: data.length },
      ACTOR,
    );
    const stalled = new PassThrough();
    const one = t.cas.putPart(
      { uploadId: session.id, partNumber: 1, body: stalled, contentLength: parts[0].length },
      ACTOR,
    );
    stalled.write(parts[0].subarray(0, MIB));
    await new Promise((r) => setTimeout(r, 100));
    const two = await t.cas.putPart(
      {
        uploadId: session.id,
        partNumber: 2,
        body: bodyOf(parts[1]),
        contentLength: parts[1].length,
      },
      ACTOR,
    );
    stalled.end(parts[0].subarray(MIB));
    const first = await one;
    const [row] = await t.sql<{ has_state: boolean }>(
      'SELECT hash_state IS NOT NULL AS has_state FROM upload_part WHERE upload_id = $1 AND part_number = 2',
      [session.id],
    );
    expect(row.has_state).toBe(false);
    const listed = [first, two].map((p) => ({
      number: p.partNumber,
      etag: p.etag,
      sizeBytes: p.sizeBytes,
    }));
    expect((await t.cas.complete(session.id, listed, ACTOR)).state).toBe('ready');
  }, 30_000);

  it('takes a re-sent part in place of the earlier one', async () => {
    const data = randomData(6 * MIB);
    const parts = split(data, 5 * MIB);
    const { session } = await t.cas.begin(
      { expectedDigest: sha256Of(data), expectedSizeBytes: data.length },
      ACTOR,
    );
    const wrong = randomData(parts[0].length);
    const first = await t.cas.putPart(
      { uploadId: session.id, partNumber: 1, body: bodyOf(wrong), contentLength: wrong.length },
      ACTOR,
    );
    const second = await t.cas.putPart(
      {
        uploadId: session.id,
        partNumber: 2,
        body: bodyOf(parts[1]),
        contentLength: parts[1].length,
      },
      ACTOR,
    );
    const fixed = await t.cas.putPart(
      {
        uploadId: session.id,
        partNumber: 1,
        body: bodyOf(parts[0]),
        contentLength: parts[0].length,
      },
      ACTOR,
    );
    expect(fixed.etag).not.toBe(first.etag);
    const stale = await domainError(
      t.cas.complete(
        session.id,
        [
          { number: 1, etag: first.etag, sizeBytes: first.sizeBytes },
          { number: 2, etag: second.etag, sizeBytes: second.sizeBytes },
        ],
        ACTOR,
      ),
    );
    expect(stale.code).toBe('UPLOAD_PART_MISMATCH');
    const done = await t.cas.complete(
      session.id,
      [
        { number: 1, etag: fixed.etag, sizeBytes: fixed.sizeBytes },
        { number: 2, etag: second.etag, sizeBytes: second.sizeBytes },
      ],
      ACTOR,
    );
    expect(done.state).toBe('ready');
  });

  it('fails the session on a wrong digest, trusts nothing, and frees its staging', async () => {
    const data = randomData(3 * MIB);
    const claimed = sha256Of(randomData(16));
    const { session } = await t.cas.begin(
      { expectedDigest: claimed, expectedSizeBytes: data.length },
      ACTOR,
    );
    const put = await t.cas.putPart(
      { uploadId: session.id, partNumber: 1, body: bodyOf(data), contentLength: data.length },
      ACTOR,
    );
    const listed = [{ number: 1, etag: put.etag, sizeBytes: data.length }];
    const error = await domainError(t.cas.complete(session.id, listed, ACTOR));
    expect(error.code).toBe('UPLOAD_DIGEST_MISMATCH');
    expect(error.detail).toContain(sha256Of(data));
    const failed = await t.cas.getSession(session.id, ACTOR);
    expect(failed).toMatchObject({
      state: 'failed',
      failureMessage: expect.stringContaining(claimed),
    });
    expect(await blobRows(claimed)).toEqual([]);
    expect(await blobRows(sha256Of(data))).toEqual([]);
    expect(await t.store.stat(casKeyOf(claimed))).toBeNull();
    expect(await t.store.stat(casKeyOf(sha256Of(data)))).toBeNull();
    if (driver === 'fs') expect(existsSync(stagingDir(session.id))).toBe(false);
    // Repeating complete answers the failed session as it is.
    expect(await t.cas.complete(session.id, listed, ACTOR)).toMatchObject({ state: 'failed' });
  });

  it('answers a list that does not add up with 400 and keeps the session open for a corrected one', async () => {
    const data = randomData(5 * MIB + 1000);
    const { session } = await t.cas.begin(
      { expectedDigest: sha256Of(data), expectedSizeBytes: data.length },
      ACTOR,
    );
    const first = data.subarray(0, 5 * MIB);
    const put1 = await t.cas.putPart(
      { uploadId: session.id, partNumber: 1, body: bodyOf(first), contentLength: first.length },
      ACTOR,
    );
    const part1 = { number: 1, etag: put1.etag, sizeBytes: first.length };
    const error = await domainError(t.cas.complete(session.id, [part1], ACTOR));
    expect(error.code).toBe('UPLOAD_PARTS_SIZE_MISMATCH');
    expect((await t.cas.getSession(session.id, ACTOR)).state).toBe('uploading');

    const rest = data.subarray(5 * MIB);
    const put2 = await t.cas.putPart(
      { uploadId: session.id, partNumber: 2, body: bodyOf(rest), contentLength: rest.length },
      ACTOR,
    );
    const done = await t.cas.complete(
      session.id,
      [part1, { number: 2, etag: put2.etag, sizeBytes: rest.length }],
      ACTOR,
    );
    expect(['ready', 'verifying']).toContain(done.state);
  });

  describe('bad parts', () => {
    let uploadId: string;
    const data = randomData(7 * MIB);

    beforeAll(async () => {
      uploadId = (
        await t.cas.begin({ expectedDigest: sha256Of(data), expectedSizeBytes: data.length }, ACTOR)
      ).session.id;
    });

    const put = (
      partNumber: number,
      bytes: Buffer,
      contentLength: number | null = bytes.length,
      contentDigest?: string,
    ) =>
      t.cas.putPart(
        { uploadId, partNumber, body: bodyOf(bytes), contentLength, contentDigest },
        ACTOR,
      );

    it.each([0, 10_001, -1, 1.5])('refuses part number %s', async (n) => {
      expect((await domainError(put(n, data.subarray(0, 10)))).code).toBe(
        'UPLOAD_PART_NUMBER_INVALID',
      );
    });

    it('needs a Content-Length', async () => {
      expect((await domainError(put(1, data.subarray(0, 10), null))).code).toBe('LENGTH_REQUIRED');
    });

    it('refuses a part over 5 GiB, or larger than the whole upload', async () => {
      expect((await domainError(put(1, data.subarray(0, 10), 5 * 1024 * MIB + 1))).code).toBe(
        'UPLOAD_PART_TOO_LARGE',
      );
      expect((await domainError(put(1, data.subarray(0, 10), data.length + 1))).code).toBe(
        'UPLOAD_PART_TOO_LARGE',
      );
    });

    it('refuses a body shorter than its Content-Length, keeping nothing of it', async () => {
      const error = await domainError(put(1, data.subarray(0, 100), 200));
      expect(error.code).toBe('UPLOAD_PART_INCOMPLETE');
      expect((await t.cas.getSession(uploadId, ACTOR)).parts).toEqual([]);
    });

    it('refuses a body longer than its Content-Length', async () => {
      expect((await domainError(put(1, data.subarray(0, 300), 200))).code).toBe(
        'UPLOAD_PART_TOO_LARGE',
      );
      expect((await t.cas.getSession(uploadId, ACTOR)).parts).toEqual([]);
    });

    it('survives a client that disconnects mid-part, leaving no part behind', async () => {
      const bytes = data.subarray(0, 5 * MIB);
      const error = await domainError(
        t.cas.putPart(
          { uploadId, partNumber: 1, body: brokenBodyOf(bytes, MIB), contentLength: bytes.length },
          ACTOR,
        ),
      );
      expect(error.code).toBe('UPLOAD_PART_INCOMPLETE');
      expect((await t.cas.getSession(uploadId, ACTOR)).parts).toEqual([]);
      if (driver === 'fs')
        expect(await t.store.listParts({ id: uploadId, token: null })).toEqual([]);
    });

    it('checks a Content-Digest, discarding a part that does not match it', async () => {
      const bytes = data.subarray(0, 5 * MIB);
      const good = `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`;
      const bad = `sha-256=:${createHash('sha256').update('other').digest('base64')}:`;
      expect((await put(1, bytes, bytes.length, good)).sizeBytes).toBe(bytes.length);
      const error = await domainError(put(1, bytes, bytes.length, bad));
      expect(error.code).toBe('UPLOAD_PART_DIGEST_MISMATCH');
      expect((await t.cas.getSession(uploadId, ACTOR)).parts).toEqual([]);
      expect((await domainError(put(1, bytes, bytes.length, 'sha-256=abc'))).code).toBe(
        'VALIDATION_FAILED',
      );
    });

    it('validates the parts list of complete', async () => {
      const p1 = await put(1, data.subarray(0, 4 * MIB));
      const p2 = await put(2, data.subarray(4 * MIB));
      const l1 = { number: 1, etag: p1.etag, sizeBytes: p1.sizeBytes };
      const l2 = { number: 2, etag: p2.etag, sizeBytes: p2.sizeBytes };

      const duplicate = await domainError(t.cas.complete(uploadId, [l1, l1, l2], ACTOR));
      expect(duplicate.code).toBe('VALIDATION_FAILED');
      expect(duplicate.extensions.errors).toEqual([
        { pointer: '/parts/1/number', detail: 'part 1 is listed twice' },
      ]);
      expect((await domainError(t.cas.complete(uploadId, [], ACTOR))).code).toBe(
        'VALIDATION_FAILED',
      );
      expect((await domainError(t.cas.complete(uploadId, [l2, l1], ACTOR))).code).toBe(
        'VALIDATION_FAILED',
      );
      const unknown = await domainError(
        t.cas.complete(uploadId, [l1, { ...l2, number: 3 }], ACTOR),
      );
      expect(unknown.code).toBe('UPLOAD_PART_MISMATCH');
      const wrongSize = await domainError(
        t.cas.complete(uploadId, [l1, { ...l2, sizeBytes: 1 }], ACTOR),
      );
      expect(wrongSize.code).toBe('UPLOAD_PART_MISMATCH');
      // Part 1 has 4 MiB: under the 5 MiB every part but the last needs.
      const small = await domainError(t.cas.complete(uploadId, [l1, l2], ACTOR));
      expect(small.code).toBe('UPLOAD_PART_TOO_SMALL');
      expect((await t.cas.getSession(uploadId, ACTOR)).state).toBe('uploading');
    });
  });

  describe('closed sessions', () => {
    const data = randomData(1000);

    it('refuses parts after abort, and aborting again answers the same', async () => {
      const { session } = await t.cas.begin(
        { expectedDigest: sha256Of(data), expectedSizeBytes: 1000 },
        ACTOR,
      );
      await t.cas.putPart(
        { uploadId: session.id, partNumber: 1, body: bodyOf(data), contentLength: 1000 },
        ACTOR,
      );
      expect((await t.cas.abort(session.id, ACTOR)).state).toBe('aborted');
      expect((await t.cas.abort(session.id, ACTOR)).state).toBe('aborted');
      if (driver === 'fs') expect(existsSync(stagingDir(session.id))).toBe(false);
      const error = await domainError(
        t.cas.putPart(
          { uploadId: session.id, partNumber: 1, body: bodyOf(data), contentLength: 1000 },
          ACTOR,
        ),
      );
      expect(error).toMatchObject({ code: 'UPLOAD_NOT_OPEN', extensions: { state: 'aborted' } });
      const complete = await domainError(
        t.cas.complete(session.id, [{ number: 1, etag: 'x', sizeBytes: 1000 }], ACTOR),
      );
      expect(complete.code).toBe('UPLOAD_NOT_OPEN');
    });

    it('refuses parts after expiry, and the sweeper frees the staged bytes', async () => {
      const { session } = await t.cas.begin(
        { expectedDigest: sha256Of(data), expectedSizeBytes: 1000 },
        ACTOR,
      );
      await t.cas.putPart(
        { uploadId: session.id, partNumber: 1, body: bodyOf(data), contentLength: 1000 },
        ACTOR,
      );
      await t.sql(
        `UPDATE upload_session SET expires_at = now() - interval '1 second' WHERE id = $1`,
        [session.id],
      );
      const error = await domainError(
        t.cas.putPart(
          { uploadId: session.id, partNumber: 2, body: bodyOf(data), contentLength: 1000 },
          ACTOR,
        ),
      );
      expect(error).toMatchObject({ code: 'UPLOAD_NOT_OPEN', extensions: { state: 'expired' } });
      expect((await t.cas.getSession(session.id, ACTOR)).state).toBe('expired');
      expect((await domainError(t.cas.abort(session.id, ACTOR))).code).toBe('UPLOAD_NOT_OPEN');

      expect(await t.maintenance.expireSessions()).toBeGreaterThanOrEqual(1);
      const [row] = await t.sql<{ state: string; staging_cleared_at: Date | null }>(
        'SELECT state, staging_cleared_at FROM upload_session WHERE id = $1',
        [session.id],
      );
      expect(row.state).toBe('expired');
      expect(row.staging_cleared_at).not.toBeNull();
      if (driver === 'fs') expect(existsSync(stagingDir(session.id))).toBe(false);
    });

    it('answers unknown sessions and blobs with not found', async () => {
      const id = '00000000-0000-4000-8000-000000000000';
      expect((await domainError(t.cas.getSession(id, ACTOR))).code).toBe('UPLOAD_NOT_FOUND');
      expect((await domainError(t.cas.getSession('nope', ACTOR))).code).toBe('UPLOAD_NOT_FOUND');
      expect((await domainError(t.cas.getBlob(sha256Of(randomData(4))))).code).toBe(
        'BLOB_NOT_FOUND',
      );
      expect((await domainError(t.cas.getBlob('sha256:xyz'))).code).toBe('BLOB_NOT_FOUND');
    });

    it('validates begin', async () => {
      const error = await domainError(
        t.cas.begin(
          { expectedDigest: 'md5:abc', expectedSizeBytes: -1, filenameHint: 'a\nb' },
          ACTOR,
        ),
      );
      expect(error.code).toBe('VALIDATION_FAILED');
      expect((error.extensions.errors as { pointer: string }[]).map((e) => e.pointer)).toEqual([
        '/expected_digest',
        '/expected_size_bytes',
        '/filename_hint',
      ]);
    });
  });
});
