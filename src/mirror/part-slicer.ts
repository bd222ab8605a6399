import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';

export interface SliceOptions {
  /** The part the stream's first byte (after `skipBytes`) belongs to. */
  readonly firstPart: number;
  /** Bytes to drop first: the start of a file an upstream sent whole although asked for a range. */
  readonly skipBytes: number;
  readonly partSize: number;
  /** The bytes expected from the first part to the end of the file. */
  readonly remainingBytes: number;
  /** Receives part `n` as a stream of exactly `length` bytes; settles when it is stored. */
  readonly send: (part: number, body: Readable, length: number) => Promise<void>;
  /** Called for every run of bytes before it is passed on (a rate limit waits here). */
  readonly beforeChunk?: (bytes: number) => Promise<void> | void;
  /** Sees every run of bytes, in order, before it is passed on (another hash of the file). */
  readonly observe?: (run: Buffer) => Promise<void> | void;
}

export class SliceError extends Error {}

/** How many bytes the slicer gathers before it writes them into the part. */
export const COALESCE_BYTES = 1024 * 1024;

/**
 * Feeds one upstream response into consecutive upload parts, so a file moves in one request and
 * still lands in parts an interrupted transfer can resume from. Refuses a stream shorter or longer
 * than expected; stops at the first part the receiver refuses.
 */
export async function sliceIntoParts(source: Readable, options: SliceOptions): Promise<void> {
  const { partSize, send } = options;
  let skip = options.skipBytes;
  let remaining = options.remainingBytes;
  let part = options.firstPart;
  interface OpenPart {
    body: PassThrough;
    left: number;
    stored: Promise<void>;
  }
  const state: { current: OpenPart | null } = { current: null };
  const open = () => {
    const length = Math.min(partSize, remaining);
    const body = new PassThrough({ highWaterMark: 1024 * 1024 });
    // The receiver listens while it reads; once it gave up, destroying the part must not throw.
    body.on('error', () => undefined);
    const stored = send(part, body, length);
    // Rejections are awaited below; this keeps an early one from going unhandled meanwhile.
    stored.catch(() => undefined);
    const opened: OpenPart = { body, left: length, stored };
    state.current = opened;
    return opened;
  };
  const write = async (target: OpenPart, chunk: Buffer) => {
    if (target.body.write(chunk)) return;
    await Promise.race([once(target.body, 'drain'), target.stored]);
  };
  // TLS hands the body over in records of 16 KiB at most: gathered into runs of COALESCE_BYTES,
  // the store and the hash see a few large writes instead of tens of thousands of small ones.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (target: OpenPart) => {
    if (pendingBytes === 0) return;
    const run = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
    const bytes = pendingBytes;
    pending = [];
    pendingBytes = 0;
    await options.beforeChunk?.(bytes);
    await options.observe?.(run);
    await write(target, run);
  };
  try {
    if (remaining === 0) {
      const empty = open();
      empty.body.end();
      await empty.stored;
      return;
    }
    for await (const raw of source) {
      let chunk = raw as Buffer;
      if (skip > 0) {
        const dropped = Math.min(skip, chunk.length);
        skip -= dropped;
        chunk = chunk.subarray(dropped);
      }
      while (chunk.length > 0) {
        if (remaining === 0)
          throw new SliceError(
            `upstream sent more than the ${options.skipBytes + options.remainingBytes} bytes expected`,
          );
        const target = state.current ?? open();
        const take = Math.min(target.left, chunk.length);
        pending.push(chunk.subarray(0, take));
        pendingBytes += take;
        chunk = chunk.subarray(take);
        target.left -= take;
        remaining -= take;
        if (target.left === 0) {
          await flush(target);
          target.body.end();
          await target.stored;
          state.current = null;
          part += 1;
        } else if (pendingBytes >= COALESCE_BYTES) {
          await flush(target);
        }
      }
    }
    if (remaining > 0)
      throw new SliceError(`upstream ended ${remaining} bytes short of the size expected`);
  } catch (error) {
    const unfinished = state.current;
    if (unfinished) {
      unfinished.body.destroy(error as Error);
      await unfinished.stored.catch(() => undefined);
    }
    source.destroy();
    throw error;
  }
}

/**
 * A shared byte-rate limit (bytes per second) for every transfer of one remote: each chunk waits
 * until the bytes before it fit the rate.
 */
export class RateLimit {
  private nextFreeAt = 0;
  constructor(private readonly bytesPerSecond: number) {}

  async take(bytes: number): Promise<void> {
    const now = Date.now();
    const start = Math.max(now, this.nextFreeAt);
    this.nextFreeAt = start + (bytes * 1000) / this.bytesPerSecond;
    const wait = start - now;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}
