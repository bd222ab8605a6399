import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { PartMeter } from './part-meter';
import { FastSha256 } from './sha256-state';

async function run(data: Buffer, declared: number) {
  const hash = new FastSha256();
  const meter = new PartMeter(declared, [hash]);
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      out.push(chunk);
      cb();
    },
  });
  const result = await pipeline(
    Readable.from([data.subarray(0, 10), data.subarray(10)]),
    meter,
    sink,
  ).then(
    () => 'ok',
    (e: Error) => e.message,
  );
  return { result, meter, hash, out: Buffer.concat(out) };
}

describe('PartMeter', () => {
  const data = Buffer.from('0123456789abcdefghij');

  it('passes a body of the declared length through, hashed', async () => {
    const { result, meter, hash, out } = await run(data, data.length);
    expect(result).toBe('ok');
    expect(meter.bytes).toBe(20);
    expect(out.equals(data)).toBe(true);
    expect(hash.hex()).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('fails a body longer than declared', async () => {
    const { result, meter } = await run(data, 15);
    expect(result).toMatch(/longer than its declared 15 bytes/);
    expect(meter.failure).toBe('too_long');
  });

  it('fails a body shorter than declared', async () => {
    const { result, meter } = await run(data, 25);
    expect(result).toMatch(/ended after 20 of 25 bytes/);
    expect(meter.failure).toBe('too_short');
  });
});
