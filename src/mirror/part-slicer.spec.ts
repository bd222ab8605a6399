import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { RateLimit, runsOf, SliceError, sliceIntoParts } from './part-slicer';

const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) % 256));

/** A stream of `data` in chunks of `chunk` bytes. */
const chunked = (data: Buffer, chunk: number) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    })(),
  );

async function collect(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('sliceIntoParts', () => {
  it.each([
    [100, 10, 7],
    [100, 10, 10],
    [100, 10, 33],
    [95, 10, 1],
    [10, 10, 64],
  ])('cuts %i bytes into parts of %i whatever the chunks (%i)', async (size, partSize, chunk) => {
    const data = bytes(size);
    const got = new Map<number, Buffer>();
    await sliceIntoParts(chunked(data, chunk), {
      firstPart: 1,
      skipBytes: 0,
      partSize,
      remainingBytes: size,
      send: async (n, body, length) => {
        const b = await collect(body);
        expect(b.length).toBe(length);
        got.set(n, b);
      },
    });
    expect([...got.keys()]).toEqual(
      Array.from({ length: Math.ceil(size / partSize) }, (_, i) => i + 1),
    );
    expect(Buffer.concat([...got.values()]).equals(data)).toBe(true);
  });

  it('resumes at a later part, dropping what a whole-file answer repeats', async () => {
    const data = bytes(100);
    const got: Buffer[] = [];
    const numbers: number[] = [];
    await sliceIntoParts(chunked(data, 9), {
      firstPart: 4,
      skipBytes: 30,
      partSize: 10,
      remainingBytes: 70,
      send: async (n, body) => {
        numbers.push(n);
        got.push(await collect(body));
      },
    });
    expect(numbers).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(Buffer.concat(got).equals(data.subarray(30))).toBe(true);
  });

  it('shows an observer every byte passed on, in order, before the part receives it', async () => {
    const data = bytes(100);
    const seen: Buffer[] = [];
    const stored: Buffer[] = [];
    await sliceIntoParts(chunked(data, 9), {
      firstPart: 4,
      skipBytes: 30,
      partSize: 10,
      remainingBytes: 70,
      observe: (run) => {
        // What the observer saw is never behind what the parts received.
        expect(Buffer.concat(seen).length).toBeGreaterThanOrEqual(Buffer.concat(stored).length);
        seen.push(Buffer.from(run));
      },
      send: async (_n, body) => void stored.push(await collect(body)),
    });
    expect(Buffer.concat(seen).equals(data.subarray(30))).toBe(true);
  });

  it('refuses a stream shorter or longer than expected', async () => {
    const send = async (_n: number, body: Readable) => {
      await collect(body).catch(() => undefined);
    };
    await expect(
      sliceIntoParts(chunked(bytes(25), 5), {
        firstPart: 1,
        skipBytes: 0,
        partSize: 10,
        remainingBytes: 30,
        send,
      }),
    ).rejects.toThrow(SliceError);
    await expect(
      sliceIntoParts(chunked(bytes(35), 5), {
        firstPart: 1,
        skipBytes: 0,
        partSize: 10,
        remainingBytes: 30,
        send,
      }),
    ).rejects.toThrow(/more than/);
  });

  it('stops at a part the receiver refuses; the part filling meanwhile sees the failure', async () => {
    const seen: number[] = [];
    const cutShort: number[] = [];
    await expect(
      sliceIntoParts(chunked(bytes(100), 4), {
        firstPart: 1,
        skipBytes: 0,
        partSize: 10,
        remainingBytes: 100,
        send: async (n, body) => {
          seen.push(n);
          if (n === 3) {
            body.resume();
            throw new Error('store full');
          }
          try {
            await collect(body);
          } catch {
            cutShort.push(n);
          }
        },
      }),
    ).rejects.toThrow('store full');
    // Part 4 may have begun while part 3 was closing, never a part after it; it never ends whole.
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
    expect(seen.length).toBeLessThanOrEqual(4);
    expect(cutShort).toEqual(seen.slice(3));
  });

  it('fills the next part while the receiver still closes the one before', async () => {
    const events: string[] = [];
    let releaseFirst = () => {};
    await sliceIntoParts(chunked(bytes(40), 4), {
      firstPart: 1,
      skipBytes: 0,
      partSize: 20,
      remainingBytes: 40,
      send: async (n, body) => {
        await collect(body);
        events.push(`${n} received`);
        if (n === 1) {
          await new Promise<void>((r) => (releaseFirst = r));
          events.push('1 closed');
        } else releaseFirst();
      },
    });
    expect(events).toEqual(['1 received', '2 received', '1 closed']);
  });

  it('hands a large stream through with backpressure, byte for byte', async () => {
    const data = Buffer.alloc(8 * 1024 * 1024, 1);
    const hash = createHash('sha256');
    await sliceIntoParts(chunked(data, 65536), {
      firstPart: 1,
      skipBytes: 0,
      partSize: 3 * 1024 * 1024,
      remainingBytes: data.length,
      send: async (_n, body) => {
        for await (const c of body) {
          hash.update(c as Buffer);
          await new Promise((r) => setImmediate(r));
        }
      },
    });
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });
});

describe('RateLimit', () => {
  it('spaces chunks to the rate', async () => {
    const limit = new RateLimit(100_000);
    const start = Date.now();
    for (let i = 0; i < 5; i++) await limit.take(10_000);
    // 50,000 bytes at 100,000 B/s: the last chunk may start after 0.4 s.
    expect(Date.now() - start).toBeGreaterThanOrEqual(380);
  });
});

describe('runsOf', () => {
  it('gathers chunks into runs of at least the size asked, losing and reordering nothing', async () => {
    const data = bytes(1000);
    const runs: Buffer[][] = [];
    for await (const run of runsOf(chunked(data, 7), 100)) runs.push(run);
    const sizes = runs.map((r) => r.reduce((n, c) => n + c.length, 0));
    expect(sizes.slice(0, -1).every((n) => n >= 100 && n < 107)).toBe(true);
    expect(sizes.at(-1)).toBeGreaterThan(0);
    expect(Buffer.concat(runs.flat()).equals(data)).toBe(true);
  });

  it('pauses the source while a run is handled', async () => {
    const source = chunked(bytes(1000), 10);
    for await (const _run of runsOf(source, 100)) {
      expect(source.isPaused()).toBe(true);
      await new Promise((r) => setTimeout(r, 1));
    }
  });

  it('hands over what arrived, then fails as the source failed', async () => {
    const source = new Readable({ read() {} });
    source.push(bytes(30));
    setTimeout(() => source.destroy(new Error('connection reset')), 5);
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const run of runsOf(source, 100)) seen.push(run.length);
      })(),
    ).rejects.toThrow('connection reset');
    expect(seen).toEqual([1]);
  });

  it('fails when the source closes without ending', async () => {
    const source = new Readable({ read() {} });
    setTimeout(() => source.destroy(), 5);
    await expect(
      (async () => {
        for await (const _run of runsOf(source, 100));
      })(),
    ).rejects.toThrow(/premature close/i);
  });
});
