import { once } from 'node:events';
import { finished, PassThrough, type Readable } from 'node:stream';

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
 * What a part's body holds before the slicer waits (on each side of the PassThrough). Larger
 * buffers would let the upstream flow on longer while the part before closes, but on the bench
 * 8 MiB cost 2-3 s more CPU per GiB in garbage collection than it saved.
 */
export const PART_BUFFER_BYTES = 1024 * 1024;

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
  // `closing`: the part whose bytes are all sent, which the receiver is still closing (its last
  // writes synced, its running hash saved) while the next part fills; one at a time.
  const state: { current: OpenPart | null; closing: OpenPart | null } = {
    current: null,
    closing: null,
  };
  const open = () => {
    const length = Math.min(partSize, remaining);
    const body = new PassThrough({ highWaterMark: PART_BUFFER_BYTES });
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
    const drained = once(target.body, 'drain');
    const closing = state.closing?.stored;
    // The closing part's refusal ends the wait at once; its success does not.
    await Promise.race([drained, target.stored, ...(closing ? [closing.then(() => drained)] : [])]);
  };
  // TLS hands the body over in records of 16 KiB at most: gathered into runs of COALESCE_BYTES
  // (cut at part ends), the store and the hash see a few large writes instead of tens of
  // thousands of small ones.
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
    for await (const run of runsOf(source, COALESCE_BYTES))
      for (const raw of run) {
        let chunk = raw;
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
            // The upstream goes on into the next part's buffer while this one closes.
            if (state.closing) await state.closing.stored;
            state.closing = target;
            state.current = null;
            part += 1;
          } else if (pendingBytes >= COALESCE_BYTES) {
            await flush(target);
          }
        }
      }
    if (remaining > 0)
      throw new SliceError(`upstream ended ${remaining} bytes short of the size expected`);
    if (state.closing) await state.closing.stored;
  } catch (error) {
    const unfinished = state.current;
    if (unfinished) {
      unfinished.body.destroy(error as Error);
      await unfinished.stored.catch(() => undefined);
    }
    await state.closing?.stored.catch(() => undefined);
    source.destroy();
    throw error;
  }
}

/**
 * The source's chunks gathered into runs of at least `bytes` (the last run may be shorter), read
 * through 'data' events and paused while a run is being handled. An upstream over TLS delivers
 * 16 KiB chunks, 65,536 per GiB: an async iterator over them costs about as much CPU as the TLS
 * itself, while this costs one promise per run. Fails when the source fails or closes early.
 */
export async function* runsOf(source: Readable, bytes: number): AsyncGenerator<Buffer[]> {
  let pending: Buffer[] = [];
  let size = 0;
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const onData = (chunk: Buffer) => {
    pending.push(chunk);
    size += chunk.length;
    if (size >= bytes) {
      source.pause();
      wake?.();
    }
  };
  source.on('data', onData);
  const stopWatching = finished(source, (error) => {
    if (error) failure = error;
    else ended = true;
    wake?.();
  });
  try {
    for (;;) {
      if (size >= bytes || (size > 0 && (ended || failure))) {
        const run = pending;
        pending = [];
        size = 0;
        yield run;
        if (!ended && !failure) source.resume();
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    source.off('data', onData);
    stopWatching();
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
