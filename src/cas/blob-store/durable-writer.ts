import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/**
 * Bytes a file stream writes before it asks the kernel to write them out (fdatasync in the
 * background). The kernel alone would start only at its dirty-page threshold (10% of memory by
 * default), so a part's whole 64 MiB would wait for the fsync at its end, and the transfer with it.
 */
export const WRITEBACK_BYTES = 16 * 1024 * 1024;

/**
 * Background writebacks running in this process at most: each holds a thread of libuv's pool
 * until the disk answers, and the pool (four threads) also does every write and open. A file that
 * finds the limit reached writes on and tries again at its next threshold.
 */
const MAX_WRITEBACKS = 2;
let writebacks = 0;

/**
 * A file stream whose bytes are durable when it finishes (fsync before 'finish', as
 * fs.WriteStream's `flush` option), with the disk kept busy while the body still arrives: every
 * WRITEBACK_BYTES it starts an fdatasync without waiting for it, so the final fsync finds little
 * left to write. A writeback's failure fails the stream: Linux reports a lost write once, and it
 * must not be mistaken for a durable file. Closes the handle when it ends, either way.
 */
export class DurableFileWriter extends Writable {
  bytesWritten = 0;
  private position: number;
  private unsynced = 0;
  private writeback: Promise<void> | null = null;
  private writebackError: Error | null = null;

  constructor(
    private readonly handle: FileHandle,
    start = 0,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.position = start;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (e?: Error) => void): void {
    this.writeAll([chunk]).then(() => callback(), callback);
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (e?: Error) => void,
  ): void {
    this.writeAll(chunks.map((c) => c.chunk)).then(() => callback(), callback);
  }

  override _final(callback: (e?: Error) => void): void {
    (async () => {
      await this.writeback;
      if (this.writebackError) throw this.writebackError;
      await this.handle.sync();
    })().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (e?: Error | null) => void): void {
    (async () => {
      await this.writeback;
      await this.handle.close();
    })().then(
      () => callback(error),
      (closing: Error) => callback(error ?? closing),
    );
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    if (this.writebackError) throw this.writebackError;
    let left = buffers;
    while (left.length > 0) {
      const { bytesWritten } = await this.handle.writev(left, this.position);
      if (bytesWritten === 0 && left.some((b) => b.length > 0))
        throw new Error('the file took none of the bytes written to it');
      this.position += bytesWritten;
      this.bytesWritten += bytesWritten;
      this.unsynced += bytesWritten;
      left = rest(left, bytesWritten);
    }
    if (this.unsynced >= WRITEBACK_BYTES && !this.writeback && writebacks < MAX_WRITEBACKS) {
      this.unsynced = 0;
      writebacks++;
      this.writeback = this.handle
        .datasync()
        .catch((e: Error) => {
          this.writebackError ??= e;
        })
        .finally(() => {
          writebacks--;
          this.writeback = null;
        });
    }
  }
}

/** What is left of `buffers` after the first `written` bytes (a short write goes on from there). */
function rest(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  let i = 0;
  while (i < buffers.length && skip >= buffers[i].length) skip -= buffers[i++].length;
  const left = buffers.slice(i);
  if (skip > 0) left[0] = left[0].subarray(skip);
  return left;
}
