import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { BlobStore, StagingRef } from '../../src/cas/blob-store/blob-store';
import { FsBlobStore } from '../../src/cas/blob-store/fs-blob-store';
import { S3BlobStore } from '../../src/cas/blob-store/s3-blob-store';
import { createS3Client } from '../../src/cas/blob-store/s3-client';
import { casKeyOf } from '../../src/cas/digest';
import { DomainError } from '../../src/common/errors/domain-error';
import { startS3rver, type RunningS3rver } from '../support/s3rver';
import { bodyOf, brokenBodyOf, MIB, randomData, readAll } from '../support/cas-streams';
import { sha256Of } from '../support/digests';

interface Driver {
  readonly store: BlobStore;
  /** Whether the server behind the driver answers ListParts (s3rver does not). */
  readonly listsParts: boolean;
  /** The filesystem root, for looking at how the fs driver laid things out. */
  readonly root?: string;
  close(): Promise<void>;
}

async function fsDriver(): Promise<Driver> {
  const root = await mkdtemp(join(tmpdir(), 'imgsrv-blobs-'));
  return {
    store: new FsBlobStore(root),
    listsParts: true,
    root,
    close: () => rm(root, { recursive: true, force: true }),
  };
}

async function s3Driver(): Promise<Driver> {
  const s3 = await startS3rver();
  const bucket = `conformance-${randomBytes(4).toString('hex')}`;
  await s3.createBucket(bucket);
  const client = createS3Client({
    driver: 's3',
    endpoint: s3.endpoint,
    bucket,
    region: 'us-east-1',
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: true,
  });
  return {
    store: new S3BlobStore(client, bucket),
    listsParts: false,
    close: async () => {
      client.destroy();
      await s3.close();
    },
  };
}

const DRIVERS: Array<[string, () => Promise<Driver>]> = [
  ['fs', fsDriver],
  ['s3', s3Driver],
];

describe.each(DRIVERS)('the %s blob store', (_name, make) => {
  let driver: Driver;
  let store: BlobStore;
  // Three parts as S3 demands them: every part but the last at least 5 MiB.
  const data = randomData(11 * MIB + 12_345);
  const cuts = [0, 5 * MIB, 10 * MIB, data.length];
  const partOf = (i: number) => data.subarray(cuts[i], cuts[i + 1]);

  beforeAll(async () => {
    driver = await make();
    store = driver.store;
    await store.check();
  });
  afterAll(() => driver.close());

  async function stageAll(bytes: Buffer[]): Promise<StagingRef> {
    const staging = await store.createStaging(randomUUID());
    const parts = [];
    for (const [i, b] of bytes.entries()) {
      parts.push(await store.putPart(staging, i + 1, bodyOf(b), b.length));
    }
    await store.assemble(staging, parts);
    return staging;
  }

  describe('a multi-MiB upload promoted to its CAS key', () => {
    const key = casKeyOf(sha256Of(data));
    let staging: StagingRef;

    beforeAll(async () => {
      staging = await stageAll([partOf(0), partOf(1), partOf(2)]);
    });

    it('streams the staged object back byte for byte', async () => {
      expect(await store.statStaged(staging)).toEqual({ sizeBytes: data.length });
      expect((await readAll(await store.readStaged(staging))).equals(data)).toBe(true);
    });

    it('resumes reading the staged object from an offset', async () => {
      const start = 7 * MIB + 3;
      const tail = await readAll(
        await store.readStaged(staging, { range: { start, end: data.length - 1 } }),
      );
      expect(tail.equals(data.subarray(start))).toBe(true);
    });

    it('promotes it, then serves it whole, by ranges, and with its size', async () => {
      expect(await store.stat(key)).toBeNull();
      expect(await store.promote(staging, key)).toBe('created');
      expect(await store.stat(key)).toEqual({ sizeBytes: data.length });
      expect((await readAll(await store.read(key))).equals(data)).toBe(true);

      const across = { start: 5 * MIB - 10, end: 5 * MIB + 10 };
      const got = await readAll(await store.read(key, { range: across }));
      expect(got.equals(data.subarray(across.start, across.end + 1))).toBe(true);
      const first = await readAll(await store.read(key, { range: { start: 0, end: 0 } }));
      expect(first.equals(data.subarray(0, 1))).toBe(true);
      const last = await readAll(
        await store.read(key, { range: { start: data.length - 1, end: data.length - 1 } }),
      );
      expect(last.equals(data.subarray(-1))).toBe(true);
    });

    it('never overwrites an existing CAS object', async () => {
      const other = randomData(64 * 1024);
      const intruder = await stageAll([other]);
      expect(await store.promote(intruder, key)).toBe('exists');
      expect(await store.stat(key)).toEqual({ sizeBytes: data.length });
      expect((await readAll(await store.read(key))).equals(data)).toBe(true);
      expect(await store.promote(staging, key)).toBe('exists');
      await store.deleteStaging(intruder);
    });

    it('keeps the CAS object after its staging is deleted, and deletes it on request', async () => {
      await store.deleteStaging(staging);
      expect(await store.statStaged(staging)).toBeNull();
      await expect(store.readStaged(staging)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
      expect((await readAll(await store.read(key))).equals(data)).toBe(true);

      await store.delete(key);
      expect(await store.stat(key)).toBeNull();
      await expect(store.read(key)).rejects.toBeInstanceOf(DomainError);
      await expect(store.read(key)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
      await expect(store.delete(key)).resolves.toBeUndefined();
    });
  });

  it('replaces a re-sent part with the later bytes', async () => {
    const staging = await store.createStaging(randomUUID());
    const first = randomData(100_000);
    const second = randomData(120_000);
    const a = await store.putPart(staging, 1, bodyOf(first), first.length);
    const b = await store.putPart(staging, 1, bodyOf(second), second.length);
    expect(b.etag).not.toBe(a.etag);
    await store.deletePart(staging, a);
    expect(await store.assemble(staging, [b])).toEqual({ sizeBytes: second.length });
    expect((await readAll(await store.readStaged(staging))).equals(second)).toBe(true);
    // Assembling again (a retried completion) keeps the same object.
    expect(await store.assemble(staging, [b])).toEqual({ sizeBytes: second.length });
    await store.deleteStaging(staging);
  });

  describe('parts sent in order, with the offset where each follows the last', () => {
    const sizes = [5 * MIB, 5 * MIB, 300_000];
    const bytes = sizes.map((n) => randomData(n));
    const whole = Buffer.concat(bytes);
    const offsets = [0, sizes[0], sizes[0] + sizes[1]];
    const put = (staging: StagingRef, i: number, appendAt?: number, body = bodyOf(bytes[i])) =>
      store.putPart(staging, i + 1, body, sizes[i], { appendAt });

    it('assembles them, on the filesystem without copying (the chain file becomes the object)', async () => {
      const staging = await store.createStaging(randomUUID());
      const parts = [];
      for (const i of [0, 1, 2]) parts.push(await put(staging, i, offsets[i]));
      expect(await store.assemble(staging, parts)).toEqual({ sizeBytes: whole.length });
      expect((await readAll(await store.readStaged(staging))).equals(whole)).toBe(true);
      if (driver.root) {
        expect(existsSync(join(driver.root, 'staging', staging.id, 'chain'))).toBe(false);
        // The chain is closed: a late part is stored on its own and changes nothing.
        const late = await put(staging, 2, whole.length);
        expect(late.etag).toMatch(/^[0-9a-f]{32}$/);
        expect((await readAll(await store.readStaged(staging))).equals(whole)).toBe(true);
      }
      await store.deleteStaging(staging);
    });

    it('stores a part whose offset does not follow on its own', async () => {
      const staging = await store.createStaging(randomUUID());
      const p1 = await put(staging, 0, 0);
      const p2 = await put(staging, 1, 12345);
      const p3 = await put(staging, 2, offsets[2]);
      await store.assemble(staging, [p1, p2, p3]);
      expect((await readAll(await store.readStaged(staging))).equals(whole)).toBe(true);
      await store.deleteStaging(staging);
    });

    it('cuts off a failed append, and keeps earlier parts when one is re-sent', async () => {
      const staging = await store.createStaging(randomUUID());
      const p1 = await put(staging, 0, 0);
      await expect(put(staging, 1, offsets[1], brokenBodyOf(bytes[1], MIB))).rejects.toMatchObject({
        code: 'ECONNRESET',
      });
      const p2 = await put(staging, 1, offsets[1]);
      const p3 = await put(staging, 2, offsets[2]);
      // Part 2 again, different bytes of the same size: it cannot overwrite its first copy.
      const other = randomData(sizes[1]);
      const p2b = await store.putPart(staging, 2, bodyOf(other), sizes[1], {
        appendAt: offsets[1],
      });
      await store.assemble(staging, [p1, p2b, p3]);
      const expected = Buffer.concat([bytes[0], other, bytes[2]]);
      expect((await readAll(await store.readStaged(staging))).equals(expected)).toBe(true);
      expect(p2.etag).not.toBe(p2b.etag);
      if (driver.root) {
        // The chain file holds parts 1-3 as first sent, nothing of the failed append or the re-send.
        const chain = readFileSync(join(driver.root, 'staging', staging.id, 'chain'));
        expect(chain.equals(whole)).toBe(true);
      }
      await store.deleteStaging(staging);
    });
  });

  it('stores nothing from a body that fails mid-part, and takes the part again after', async () => {
    const staging = await store.createStaging(randomUUID());
    const bytes = randomData(300_000);
    await expect(
      store.putPart(staging, 1, brokenBodyOf(bytes, 100_000), bytes.length),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    if (driver.listsParts) expect(await store.listParts(staging)).toEqual([]);
    const part = await store.putPart(staging, 1, bodyOf(bytes), bytes.length);
    await store.assemble(staging, [part]);
    expect((await readAll(await store.readStaged(staging))).equals(bytes)).toBe(true);
    await store.deleteStaging(staging);
  });

  it('stores an empty object', async () => {
    const staging = await stageAll([Buffer.alloc(0)]);
    expect(await store.statStaged(staging)).toEqual({ sizeBytes: 0 });
    expect(await readAll(await store.readStaged(staging))).toHaveLength(0);
    await store.deleteStaging(staging);
  });

  it('lists staging areas holding a staged object, until they are deleted', async () => {
    const staging = await stageAll([randomData(1000)]);
    expect((await store.listStaging()).map((s) => s.id)).toContain(staging.id);
    await store.deleteStaging(staging);
    expect((await store.listStaging()).map((s) => s.id)).not.toContain(staging.id);
  });

  it('lists the parts it holds, where the server can', async () => {
    if (!driver.listsParts) {
      // s3rver answers ListParts with MethodNotAllowed; the database is the record of parts.
      const staging = await store.createStaging(randomUUID());
      await expect(store.listParts(staging)).rejects.toMatchObject({ name: 'MethodNotAllowed' });
      return;
    }
    const staging = await store.createStaging(randomUUID());
    const p1 = await store.putPart(staging, 1, bodyOf(randomData(10)), 10);
    const p2 = await store.putPart(staging, 2, bodyOf(randomData(20)), 20);
    expect(await store.listParts(staging)).toEqual([p1, p2]);
    await store.deletePart(staging, p1);
    expect(await store.listParts(staging)).toEqual([p2]);
    await store.deleteStaging(staging);
    expect(await store.listParts(staging)).toEqual([]);
  });

  it('answers a missing key with null from stat and BLOB_NOT_FOUND from read', async () => {
    const key = casKeyOf(sha256Of(randomData(8)));
    expect(await store.stat(key)).toBeNull();
    await expect(store.read(key)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    if (store.openFile) {
      await expect(store.openFile(key)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    }
  });

  it('opens an object as a file to send from when its objects are files (fs only)', async () => {
    expect(store.openFile !== undefined).toBe(store.driver === 'fs');
    if (!store.openFile) return;
    const bytes = randomData(3 * MIB + 7);
    const key = casKeyOf(sha256Of(bytes));
    const staging = await stageAll([bytes]);
    expect(await store.promote(staging, key)).toBe('created');
    await store.deleteStaging(staging);
    const file = await store.openFile(key);
    try {
      expect((await file.readFile()).equals(bytes)).toBe(true);
    } finally {
      await file.close();
    }
  });

  it('refuses keys that could leave its root', async () => {
    await expect(store.stat('../etc/passwd')).rejects.toThrow(/invalid blob-store key/);
    await expect(store.read('cas/../../x')).rejects.toThrow(/invalid blob-store key/);
  });
});

describe('an s3 blob store whose server is down', () => {
  let s3: RunningS3rver;
  let store: S3BlobStore;

  beforeAll(async () => {
    s3 = await startS3rver();
    await s3.createBucket('gone');
    store = new S3BlobStore(
      createS3Client({
        driver: 's3',
        endpoint: s3.endpoint,
        bucket: 'gone',
        region: 'us-east-1',
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        forcePathStyle: true,
      }),
      'gone',
    );
    await s3.close();
  });
  afterAll(() => store.client.destroy());

  it('reports DEPENDENCY_UNAVAILABLE rather than an internal error', async () => {
    const key = casKeyOf(sha256Of(Buffer.from('x')));
    await expect(store.stat(key)).rejects.toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    await expect(store.read(key)).rejects.toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    await expect(store.createStaging(randomUUID())).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
    });
  });
});
