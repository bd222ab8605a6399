import { Transform, type TransformCallback } from 'node:stream';
import type { RunningSha256 } from './sha256-state';

export type MeterFailure = 'too_long' | 'too_short';

/**
 * Passes a part body through on its way to the store, counting it and feeding the hashes. It
 * fails the stream when the body carries more or fewer bytes than declared, so a short or
 * overlong body never becomes a stored part.
 */
export class PartMeter extends Transform {
  bytes = 0;
  failure: MeterFailure | null = null;

  constructor(
    private readonly declared: number,
    private readonly hashers: readonly RunningSha256[],
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.declared) {
      this.failure = 'too_long';
      callback(new Error(`the body is longer than its declared ${this.declared} bytes`));
      return;
    }
    let wait: Promise<void>[] | undefined;
    for (const h of this.hashers) {
      const pending = h.update(chunk);
      if (pending) (wait ??= []).push(pending);
    }
    if (!wait) callback(null, chunk);
    else Promise.all(wait).then(() => callback(null, chunk), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes < this.declared) {
      this.failure = 'too_short';
      callback(new Error(`the body ended after ${this.bytes} of ${this.declared} bytes`));
      return;
    }
    callback();
  }
}
