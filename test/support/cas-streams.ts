import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export const MIB = 1024 * 1024;

/** Deterministic-enough random bytes for uploads. */
export function randomData(size: number): Buffer {
  return randomBytes(size);
}

/** A body stream delivering `data` in chunks of at most 64 KiB, as a socket would. */
export function bodyOf(data: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    })(),
    { objectMode: false },
  );
}

/** A body that delivers `sent` bytes of `data` and then fails, as a client that disconnects. */
export function brokenBodyOf(data: Buffer, sent: number): Readable {
  let done = false;
  return new Readable({
    read() {
      if (done) return;
      done = true;
      this.push(data.subarray(0, sent));
      setImmediate(() => this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    },
  });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}
