import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HASH_CHUNK, PACED_READ_CHUNK, READ_CHUNK, digestFile, sendChunk } from './upload';

describe('digestFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imgsrv-digest-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  // Around the edges of its 4 MiB reads: empty, short, exactly one or two, one past, several.
  const hashChunk = HASH_CHUNK;
  it.each([0, 1, 1000, hashChunk - 1, hashChunk, hashChunk + 1, 2 * hashChunk, 3 * hashChunk + 7])(
    'gives the sha256 and size of a %i-byte file',
    async (size) => {
      const bytes = randomBytes(size);
      const path = join(dir, `f${size}`);
      await writeFile(path, bytes);
      expect(await digestFile(path)).toEqual({
        digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
        size,
      });
    },
  );

  it('hashes each read once and in order, with three digests of one file under way at once', async () => {
    // Bytes that differ from one read to the next: a buffer hashed twice or out of turn changes
    // the digest.
    const size = 5 * hashChunk + 12345;
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i += hashChunk)
      bytes.fill(i / hashChunk + 1, i, Math.min(size, i + hashChunk));
    const path = join(dir, 'rhythm');
    await writeFile(path, bytes);
    const want = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const results = await Promise.all([digestFile(path), digestFile(path), digestFile(path)]);
    for (const r of results) expect(r).toEqual({ digest: want, size });
  });

  it('refuses a file it cannot open', async () => {
    await expect(digestFile(join(dir, 'missing'))).rejects.toThrow(/ENOENT/);
  });
});

describe('sendChunk', () => {
  it('reads 1 MiB at a time without a limit, and 64 KiB under --limit-rate', () => {
    expect(sendChunk(0)).toBe(READ_CHUNK);
    // At 32 KiB/s a paced 1 MiB read would hold its connection still for 32 s.
    expect(sendChunk(32 * 1024)).toBe(PACED_READ_CHUNK);
    expect(PACED_READ_CHUNK).toBeLessThan(READ_CHUNK);
  });
});
