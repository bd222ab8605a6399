import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DurableFileWriter, WRITEBACK_BYTES } from '../../src/cas/blob-store/durable-writer';

/** The fs store's file writer on the real filesystem: whole, in place, closed either way. */
describe('DurableFileWriter', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'durable-writer-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const chunks = (data: Buffer, size: number) =>
    Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
      })(),
    );

  it('writes every byte, across several writebacks, and closes the file', async () => {
    const data = randomBytes(3 * WRITEBACK_BYTES + 12_345);
    const path = join(dir, 'whole');
    const handle = await open(path, 'wx');
    const out = new DurableFileWriter(handle);
    await pipeline(chunks(data, 1024 * 1024 + 7), out);
    expect(out.bytesWritten).toBe(data.length);
    expect(out.closed).toBe(true);
    expect(handle.fd).toBe(-1);
    const written = await readFile(path);
    expect(createHash('sha256').update(written).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
  });

  it('writes from the offset given, leaving the bytes before it', async () => {
    const path = join(dir, 'append');
    const head = randomBytes(1000);
    const tail = randomBytes(WRITEBACK_BYTES + 1);
    await pipeline(Readable.from([head]), new DurableFileWriter(await open(path, 'wx')));
    await pipeline(chunks(tail, 65_536), new DurableFileWriter(await open(path, 'r+'), 1000));
    expect((await readFile(path)).equals(Buffer.concat([head, tail]))).toBe(true);
  });

  it('fails with the body and still closes the file', async () => {
    const path = join(dir, 'failing');
    const handle = await open(path, 'wx');
    const out = new DurableFileWriter(handle);
    const body = new Readable({
      read() {
        this.push(randomBytes(WRITEBACK_BYTES));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(pipeline(body, out)).rejects.toThrow('client went away');
    if (!out.closed) await new Promise((r) => out.once('close', r));
    expect(handle.fd).toBe(-1);
    expect((await stat(path)).size).toBeLessThanOrEqual(WRITEBACK_BYTES);
  });

  it('fails when the file refuses a write', async () => {
    // A file opened read-only: the first write fails with EBADF, and the stream with it.
    const path = join(dir, 'readonly');
    await (await open(path, 'wx')).close();
    const handle = await open(path, 'r');
    const out = new DurableFileWriter(handle);
    await expect(pipeline(Readable.from([randomBytes(10)]), out)).rejects.toMatchObject({
      code: 'EBADF',
    });
    expect(handle.fd).toBe(-1);
  });
});
