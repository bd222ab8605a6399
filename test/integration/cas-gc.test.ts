import type { EntityManager } from 'typeorm';
import { BlobReferenceRegistry } from '../../src/cas/blob-references';
import { casKeyOf } from '../../src/cas/digest';
import { MetricsService } from '../../src/common/metrics/metrics.service';
import { ACTOR, startCasApp, uploadParts, type CasTestApp } from '../support/cas-app';
import { waitUntil } from '../support/waiting';
import { randomData } from '../support/cas-streams';
import { sha256Of } from '../support/digests';

const NOW = { graceMs: 0, markDelayMs: 0, deleteDelayMs: 0 };

describe('trusted blobs and their garbage collection', () => {
  let t: CasTestApp;

  beforeAll(async () => {
    t = await startCasApp();
  });
  afterAll(() => t.close());

  /** Uploads fresh random bytes to `ready`; answers their digest. */
  async function trusted(size = 1000): Promise<string> {
    const data = randomData(size);
    const { session, listed } = await uploadParts(t.cas, data, [data]);
    expect((await t.cas.complete(session.id, listed, ACTOR)).state).toBe('ready');
    return sha256Of(data);
  }

  const rowCount = async (digest: string) =>
    (await t.sql('SELECT 1 FROM cas_blob WHERE digest = $1', [digest])).length;
  const marked = async (digest: string) =>
    (await t.sql('SELECT 1 FROM cas_blob_gc_mark WHERE digest = $1', [digest])).length > 0;

  describe('the append-only trigger', () => {
    let digest: string;
    beforeAll(async () => {
      digest = await trusted();
    });

    it.each([
      ['UPDATE', `UPDATE cas_blob SET size_bytes = size_bytes + 1 WHERE digest = $1`],
      ['DELETE', `DELETE FROM cas_blob WHERE digest = $1`],
    ])('refuses %s', async (_op, statement) => {
      await expect(t.sql(statement, [digest])).rejects.toThrow(/append-only/);
      expect(await rowCount(digest)).toBe(1);
    });

    it('refuses TRUNCATE', async () => {
      await expect(t.sql('TRUNCATE cas_blob CASCADE')).rejects.toThrow(/append-only/);
    });

    it('refuses a delete that only sets the GC flag, or only has a mark', async () => {
      await expect(
        t.dataSource.transaction(async (m: EntityManager) => {
          await m.query("SELECT set_config('imgsrv.cas_gc', 'delete', true)");
          await m.query('DELETE FROM cas_blob WHERE digest = $1', [digest]);
        }),
      ).rejects.toThrow(/append-only/);
      await t.sql('INSERT INTO cas_blob_gc_mark (digest) VALUES ($1)', [digest]);
      await expect(t.sql('DELETE FROM cas_blob WHERE digest = $1', [digest])).rejects.toThrow(
        /append-only/,
      );
      await t.sql('DELETE FROM cas_blob_gc_mark WHERE digest = $1', [digest]);
      expect(await rowCount(digest)).toBe(1);
    });

    it('checks that the object key derives from the digest', async () => {
      const other = sha256Of(randomData(5));
      await expect(
        t.sql(
          `INSERT INTO cas_blob (digest, size_bytes, object_key) VALUES ($1, 5, 'cas/elsewhere')`,
          [other],
        ),
      ).rejects.toThrow(/ck_cas_blob_object_key/);
    });
  });

  it('leaves blobs younger than the grace period alone', async () => {
    const digest = await trusted();
    const result = await t.maintenance.collectGarbage({ markDelayMs: 0, deleteDelayMs: 0 });
    expect(result.marked).toBe(0);
    expect(await rowCount(digest)).toBe(1);
  });

  it('deletes an unreferenced blob: marked, then its row, then its bytes after the delay', async () => {
    const digest = await trusted();
    const key = casKeyOf(digest);

    expect(await t.maintenance.collectGarbage({ graceMs: 0, markDelayMs: 60_000 })).toMatchObject({
      deleted: 0,
    });
    expect(await marked(digest)).toBe(true);

    expect((await t.maintenance.collectGarbage(NOW)).deleted).toBeGreaterThanOrEqual(1);
    expect(await rowCount(digest)).toBe(0);
    await expect(t.cas.getBlob(digest)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    // Rows first; the bytes wait for the delete delay.
    expect(await t.store.stat(key)).not.toBeNull();
    const [pending] = await t.sql<{ digest: string }>(
      'SELECT digest FROM cas_object_deletion WHERE object_key = $1',
      [key],
    );
    expect(pending.digest).toBe(digest);
    expect(
      await t.sql(`SELECT 1 FROM audit_event WHERE action = 'blob.gc_delete' AND target_id = $1`, [
        digest,
      ]),
    ).toHaveLength(1);

    expect(await t.maintenance.deleteDueObjects()).toBeGreaterThanOrEqual(1);
    expect(await t.store.stat(key)).toBeNull();
    expect(await t.sql('SELECT 1 FROM cas_object_deletion WHERE object_key = $1', [key])).toEqual(
      [],
    );
  });

  it('keeps a blob an open upload session cites', async () => {
    const data = randomData(1000);
    const digest = sha256Of(data);
    // One session is still uploading the digest while another makes it trusted.
    await t.cas.begin({ expectedDigest: digest, expectedSizeBytes: 1000 }, ACTOR);
    const { session, listed } = await uploadParts(t.cas, data, [data]);
    await t.cas.complete(session.id, listed, ACTOR);
    await t.maintenance.collectGarbage(NOW);
    expect(await marked(digest)).toBe(false);
    expect(await rowCount(digest)).toBe(1);
  });

  it('keeps a blob a registered reference source cites (the catalog hook)', async () => {
    const digest = await trusted();
    const registry = t.get(BlobReferenceRegistry);
    const asked: string[][] = [];
    registry.register({
      name: 'test.citations',
      citedDigests: async (_m, digests) => {
        asked.push([...digests]);
        return new Set(digests.filter((d) => d === digest));
      },
    });
    await t.maintenance.collectGarbage(NOW);
    expect(asked.flat()).toContain(digest);
    expect(await marked(digest)).toBe(false);
    expect(await rowCount(digest)).toBe(1);
  });

  it('marks an uncited blob behind more than a batch of older blobs that manifests cite', async () => {
    // 250 old rows (no bytes needed: cited blobs are never deleted), all cited by a source.
    const cited = await t.sql<{ digest: string }>(
      `INSERT INTO cas_blob (digest, size_bytes, object_key, created_at)
       SELECT d, 1, 'cas/sha256/' || substr(d, 8, 2) || '/' || substr(d, 10, 2) || '/' || substr(d, 8),
              now() - interval '30 days' + g * interval '1 second'
         FROM generate_series(1, 250) g,
              LATERAL (SELECT 'sha256:' || encode(sha256(('gc-scan-' || g)::bytea), 'hex') AS d) x
       RETURNING digest`,
    );
    const citedSet = new Set(cited.map((r) => r.digest));
    t.get(BlobReferenceRegistry).register({
      name: 'test.many-citations',
      citedDigests: async (_m, digests) => new Set(digests.filter((d) => citedSet.has(d))),
    });
    const garbage = await trusted();
    await t.maintenance.collectGarbage({ graceMs: 0, markDelayMs: 60_000 });
    expect(await marked(garbage)).toBe(true);
    const citedMarks = await t.sql(
      'SELECT 1 FROM cas_blob_gc_mark WHERE digest = ANY($1::text[])',
      [[...citedSet]],
    );
    expect(citedMarks).toHaveLength(0);
    await t.sql('DELETE FROM cas_blob_gc_mark WHERE digest = $1', [garbage]);
  });

  it('lets an upload beginning for a marked digest win over the GC', async () => {
    const digest = await trusted();
    await t.maintenance.collectGarbage({ graceMs: 0, markDelayMs: 60_000 });
    expect(await marked(digest)).toBe(true);
    const again = await t.cas.begin({ expectedDigest: digest, expectedSizeBytes: 1000 }, ACTOR);
    expect(again.session.state).toBe('ready');
    expect(await marked(digest)).toBe(false);
    await t.maintenance.collectGarbage({ graceMs: 60_000, markDelayMs: 0 });
    expect(await rowCount(digest)).toBe(1);
  });

  it('lets a transaction citing the digest win while the GC waits for it', async () => {
    const digest = await trusted();
    await t.maintenance.collectGarbage({ graceMs: 0, markDelayMs: 60_000 });
    expect(await marked(digest)).toBe(true);

    // A draft citing the digest: its transaction protects the blob and is still open.
    const runner = t.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      await t.cas.protectBlob(runner.manager, digest);
      const gc = t.maintenance.collectGarbage(NOW);
      // The GC has seen the (still committed) mark and waits for the digest's lock.
      await waitUntil(
        () =>
          t.sql<{ n: string }>(
            `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
          ),
        (rows) => Number(rows[0].n) > 0,
      );
      await runner.commitTransaction();
      await gc;
    } finally {
      await runner.release();
    }
    expect(await rowCount(digest)).toBe(1);
    expect(await marked(digest)).toBe(false);
  });

  it('keeps the bytes of a digest uploaded again before they were deleted', async () => {
    const data = randomData(1000);
    const digest = sha256Of(data);
    const key = casKeyOf(digest);
    {
      const { session, listed } = await uploadParts(t.cas, data, [data]);
      await t.cas.complete(session.id, listed, ACTOR);
    }
    await t.maintenance.collectGarbage(NOW);
    expect(await rowCount(digest)).toBe(0);

    const { session, listed } = await uploadParts(t.cas, data, [data]);
    expect((await t.cas.complete(session.id, listed, ACTOR)).state).toBe('ready');
    expect(await t.sql('SELECT 1 FROM cas_object_deletion WHERE object_key = $1', [key])).toEqual(
      [],
    );
    await t.maintenance.deleteDueObjects();
    expect(await t.store.stat(key)).toEqual({ sizeBytes: 1000 });
    expect(await rowCount(digest)).toBe(1);
  });

  it('makes a new upload wait while the bytes of its digest are being deleted', async () => {
    const data = randomData(1000);
    const digest = sha256Of(data);
    const key = casKeyOf(digest);
    {
      const { session, listed } = await uploadParts(t.cas, data, [data]);
      await t.cas.complete(session.id, listed, ACTOR);
    }
    await t.maintenance.collectGarbage(NOW);
    // A deleter holds its claim: the bytes may be going right now.
    await t.sql(
      `UPDATE cas_object_deletion SET claimed_by = 'deleter', claimed_until = now() + interval '1 hour'
        WHERE object_key = $1`,
      [key],
    );
    const { session, listed } = await uploadParts(t.cas, data, [data]);
    const answered = await t.cas.complete(session.id, listed, ACTOR);
    expect(answered.state).toBe('verifying');
    expect(await rowCount(digest)).toBe(0);

    // The deleter finishes; the retried verification promotes the bytes again.
    await t.store.delete(key);
    await t.sql('DELETE FROM cas_object_deletion WHERE object_key = $1', [key]);
    await t.sql('UPDATE upload_session SET verify_lease_until = now() WHERE id = $1', [session.id]);
    const done = await waitUntil(
      async () => {
        await t.maintenance.requeueVerifications();
        return t.cas.getSession(session.id, ACTOR);
      },
      (s) => s.state !== 'verifying',
    );
    expect(done.state).toBe('ready');
    expect(await t.store.stat(key)).toEqual({ sizeBytes: 1000 });
    expect(await rowCount(digest)).toBe(1);
  });

  it('answers the trusted sizes of the digests it knows, inside a transaction too', async () => {
    const digest = await trusted(1234);
    const unknown = sha256Of(randomData(9));
    expect(await t.cas.trustedSizes([digest, unknown, 'not-a-digest'])).toEqual(
      new Map([[digest, 1234]]),
    );
    const inTx = await t.dataSource.transaction((m: EntityManager) =>
      t.cas.trustedSizes([digest], m),
    );
    expect(inTx.get(digest)).toBe(1234);
  });

  it('exposes upload, blob and GC metrics', async () => {
    await trusted(2000);
    const text = await t.get(MetricsService).registry.metrics();
    expect(text).toMatch(/imgsrv_upload_sessions\{state="ready"\} [1-9]/);
    expect(text).toMatch(/imgsrv_upload_sessions\{state="created"\} \d+/);
    expect(text).toMatch(/imgsrv_cas_blobs [1-9]/);
    expect(text).toMatch(/imgsrv_cas_blob_bytes [1-9]/);
    expect(text).toMatch(/imgsrv_upload_bytes_received_total [1-9]/);
    expect(text).toMatch(/imgsrv_upload_verification_seconds_count\{outcome="ready"\} [1-9]/);
    expect(text).toMatch(/imgsrv_cas_gc_deleted_blobs_total [1-9]/);
    expect(text).toMatch(/imgsrv_cas_objects_deleted_total [1-9]/);
  });
});

describe('the GC without every reference source it expects', () => {
  let t: CasTestApp;

  beforeAll(async () => {
    // As a composition that expects the catalog's source but never built the catalog.
    t = await startCasApp({ referenceSources: ['catalog.manifests'] });
  });
  afterAll(() => t.close());

  it('refuses to mark or delete anything, and runs once the source has registered', async () => {
    const data = randomData(1000);
    const { session, listed } = await uploadParts(t.cas, data, [data]);
    expect((await t.cas.complete(session.id, listed, ACTOR)).state).toBe('ready');
    const digest = sha256Of(data);
    const marks = () => t.sql('SELECT 1 FROM cas_blob_gc_mark WHERE digest = $1', [digest]);

    await expect(t.maintenance.collectGarbage(NOW)).rejects.toThrow(
      /reference sources catalog\.manifests never registered/,
    );
    expect(await marks()).toHaveLength(0);
    expect(await t.sql('SELECT 1 FROM cas_blob WHERE digest = $1', [digest])).toHaveLength(1);

    t.get(BlobReferenceRegistry).register({
      name: 'catalog.manifests',
      citedDigests: async () => new Set<string>(),
    });
    await t.maintenance.collectGarbage({ graceMs: 0, markDelayMs: 60_000 });
    expect(await marks()).toHaveLength(1);
  });
});
