import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { call } from './api';
import type { CliContext } from './context';
import { CliError, EXIT, apiError, exitCodeForStatus, networkError } from './errors';
import { choosePartSize, partsToSend, planParts, type PlannedPart } from './part-plan';
import { UploadProgress } from './progress';
import { UploadStateStore } from './upload-state';

export interface UploadOptions {
  readonly partSize?: number;
  readonly parallel: number;
  /** Bytes per second across all parts in flight (0: unlimited). */
  readonly limitRate: number;
  readonly state: UploadStateStore;
  readonly mediaType?: string;
  readonly label?: string;
}

export interface UploadResult {
  readonly path: string;
  readonly digest: string;
  readonly size: number;
  /** `trusted`: the server had the blob; `resumed`: an earlier session was continued. */
  readonly outcome: 'trusted' | 'uploaded' | 'resumed';
  /** Bytes this run sent. */
  readonly sent_bytes: number;
  /** The session the bytes went through; null when the server already had the blob. */
  readonly upload_id: string | null;
}

/**
 * Files up to this size that fit one part go in one request (PUT /v1/blobs/{digest}): the
 * server's default limit; a server with a lower one (413) or without the route is sent an upload
 * session instead.
 */
export const SINGLE_REQUEST_MAX = 64 * 1024 * 1024;

/** How much of a file one read takes, when hashing it and when sending it. */
export const READ_CHUNK = 1024 * 1024;

/**
 * What one read sends under --limit-rate: the pacing holds each read back until its bytes are due,
 * and a read of a whole READ_CHUNK would leave a connection still for seconds at low rates (the
 * server closes one that moves no byte for its idle timeout).
 */
export const PACED_READ_CHUNK = 64 * 1024;

/** The size of the reads that send a file at `limitRate` bytes a second (0: no limit). */
export const sendChunk = (limitRate: number) => (limitRate > 0 ? PACED_READ_CHUNK : READ_CHUNK);

/** What digestFile reads at a time: two of these are in use, one read while the other is hashed. */
export const HASH_CHUNK = 4 * READ_CHUNK;

/**
 * sha256 of a file. Reads into two buffers in turn, the next read under way while the last one
 * is hashed, so the file is hashed about as fast as the CPU's SHA instructions go (a stream of
 * fresh buffers, one read after another, took half as long again).
 */
export async function digestFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  const file = await open(path, 'r');
  try {
    const buffers = [Buffer.allocUnsafe(HASH_CHUNK), Buffer.allocUnsafe(HASH_CHUNK)];
    let size = 0;
    let next = file.read(buffers[0], 0, HASH_CHUNK, 0);
    for (let turn = 0; ; turn ^= 1) {
      const { bytesRead } = await next;
      if (bytesRead === 0) break;
      size += bytesRead;
      // The other buffer is free: the hash below has taken what it held.
      next = file.read(buffers[turn ^ 1], 0, HASH_CHUNK, size);
      hash.update(buffers[turn].subarray(0, bytesRead));
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  } finally {
    await file.close();
  }
}

/** Holds the bytes in flight under `bytesPerSecond`, shared by every part of a run. */
export class RateLimiter {
  private sent = 0;
  private readonly started = Date.now();
  constructor(readonly bytesPerSecond: number) {}
  async take(bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    this.sent += bytes;
    const due = (this.sent / this.bytesPerSecond) * 1000 - (Date.now() - this.started);
    if (due > 0) await sleep(due);
  }
}

/** Counts (and paces) bytes as they leave the file for the socket. */
class Meter extends Transform {
  counted = 0;
  constructor(
    private readonly progress: UploadProgress,
    private readonly limiter: RateLimiter,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.limiter.take(chunk.length).then(() => {
      this.counted += chunk.length;
      this.progress.advance(chunk.length);
      done(null, chunk);
    }, done);
  }
}

type Session = {
  id: string;
  state: string;
  failure_message: string | null;
  parts?: { part_number: number; size_bytes: number; etag: string }[];
};

/**
 * Uploads one file as a content-addressed blob: nothing moves when the server already trusts the
 * digest; an earlier session of this machine for the same digest is continued from the parts the
 * server holds; the rest goes in parallel parts streamed from file ranges.
 */
export async function uploadFile(
  ctx: CliContext,
  path: string,
  options: UploadOptions,
): Promise<UploadResult> {
  const label = options.label ?? basename(path);
  let facts: { digest: string; size: number };
  try {
    await stat(path);
    facts = await digestFile(path);
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`, EXIT.failure);
  }
  const { digest, size } = facts;
  const key = UploadStateStore.key(ctx.connection.url, digest, size);
  // A file that would go as one part anyway (and has no session to resume) goes in one request.
  const single = size <= SINGLE_REQUEST_MAX && choosePartSize(size, options.partSize) >= size;
  if (single && !options.state.get(key)) {
    const whole = await putWhole(ctx, path, digest, size, label, options);
    if (whole) return whole;
  }

  let session: Session | undefined;
  let partSize = choosePartSize(size, options.partSize);
  let outcome: UploadResult['outcome'] = 'uploaded';
  const remembered = options.state.get(key);
  if (remembered) {
    const found = await call<Session | undefined>(
      `reading upload ${remembered.upload_id}`,
      ctx.client.GET('/v1/uploads/{upload_id}', {
        params: { path: { upload_id: remembered.upload_id } },
      }),
      [404],
    );
    if (found && (found.state === 'created' || found.state === 'uploading')) {
      session = found;
      partSize = remembered.part_size;
      outcome = 'resumed';
    } else if (found?.state === 'ready') {
      options.state.delete(key);
      return { path, digest, size, outcome: 'trusted', sent_bytes: 0, upload_id: found.id };
    } else {
      options.state.delete(key);
    }
  }
  if (!session) {
    const begun = await ctx.client.POST('/v1/uploads', {
      body: {
        expected_digest: digest,
        expected_size_bytes: size,
        filename_hint: basename(path),
        ...(options.mediaType ? { media_type_hint: options.mediaType } : {}),
      },
    });
    const created = await call<Session>(`beginning the upload of ${path}`, Promise.resolve(begun));
    if (created.state === 'ready') {
      return { path, digest, size, outcome: 'trusted', sent_bytes: 0, upload_id: created.id };
    }
    session = { ...created, parts: [] };
    options.state.set(key, { upload_id: created.id, part_size: partSize });
  }

  const plan = planParts(size, partSize);
  const { keep, send } = partsToSend(plan, session.parts ?? []);
  const already = plan.filter((p) => keep.has(p.number)).reduce((n, p) => n + p.size, 0);
  if (outcome === 'resumed') {
    ctx.stderr.write(
      `${label}: resuming upload ${session.id}: ${keep.size} of ${plan.length} parts already on the server\n`,
    );
  }
  const progress = new UploadProgress(ctx.stderr, label, size, already, ctx.quiet || ctx.json);
  const limiter = new RateLimiter(options.limitRate);
  const etags = new Map(keep);
  let sent = 0;

  const queue = [...send];
  const worker = async () => {
    for (let part = queue.shift(); part; part = queue.shift()) {
      const { etag, bytes } = await sendPart(ctx, session.id, path, part, progress, limiter);
      etags.set(part.number, etag);
      sent += bytes;
      progress.partDone();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.parallel) }, worker));
  progress.finish();

  const completed = await call<Session>(
    `completing the upload of ${path}`,
    ctx.client.POST('/v1/uploads/{upload_id}/complete', {
      params: { path: { upload_id: session.id } },
      body: {
        parts: plan.map((p) => ({
          number: p.number,
          etag: etags.get(p.number) as string,
          size_bytes: p.size,
        })),
      },
    }),
  );
  const final = await waitReady(ctx, completed);
  options.state.delete(key);
  if (final.state !== 'ready') {
    throw new CliError(
      `the server refused ${path}: ${final.failure_message ?? final.state}`,
      EXIT.client,
    );
  }
  return { path, digest, size, outcome, sent_bytes: sent, upload_id: session.id };
}

async function sendPart(
  ctx: CliContext,
  uploadId: string,
  path: string,
  part: PlannedPart,
  progress: UploadProgress,
  limiter: RateLimiter,
): Promise<{ etag: string; bytes: number }> {
  const url = `${ctx.connection.url}/v1/uploads/${uploadId}/parts/${part.number}`;
  for (let attempt = 1; ; attempt++) {
    const meter = new Meter(progress, limiter);
    const body =
      part.size === 0
        ? ''
        : createReadStream(path, {
            start: part.start,
            end: part.start + part.size - 1,
            highWaterMark: sendChunk(limiter.bytesPerSecond),
          }).pipe(meter);
    try {
      const res = await request(url, {
        method: 'PUT',
        dispatcher: ctx.dispatcher,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(part.size),
          ...(ctx.connection.token ? { authorization: `Bearer ${ctx.connection.token}` } : {}),
        },
        body,
      });
      const text = await res.body.text();
      if (res.statusCode === 200) {
        const answer = JSON.parse(text) as { etag: string };
        return { etag: answer.etag, bytes: part.size };
      }
      let problem: unknown = text;
      try {
        problem = JSON.parse(text);
      } catch {
        // not JSON: reported as text
      }
      const error = apiError(
        `sending part ${part.number} of ${path}`,
        { status: res.statusCode, statusText: '' } as Response,
        problem,
      );
      progress.rewind(meter.counted);
      if (exitCodeForStatus(res.statusCode) !== EXIT.server || attempt >= 3) throw error;
    } catch (error) {
      if (error instanceof CliError) throw error;
      progress.rewind(meter.counted);
      if (attempt >= 3) throw networkError(`sending part ${part.number} of ${path}`, error);
    }
    await sleep(500 * attempt);
  }
}

/**
 * A small file in one request: a HEAD first, so a blob the server has (and this caller may read)
 * moves no bytes, then PUT /v1/blobs/{digest} with the whole body. Null when the server sends
 * the file to upload sessions (413: above its limit; 404 or 405: the route is off or missing).
 */
async function putWhole(
  ctx: CliContext,
  path: string,
  digest: string,
  size: number,
  label: string,
  options: UploadOptions,
): Promise<UploadResult | null> {
  const url = `${ctx.connection.url}/v1/blobs/${digest}`;
  const auth = ctx.connection.token ? { authorization: `Bearer ${ctx.connection.token}` } : {};
  const what = `uploading ${path}`;
  for (let attempt = 1; ; attempt++) {
    let progress: UploadProgress | undefined;
    let meter: Meter | undefined;
    try {
      const head = await request(url, {
        method: 'HEAD',
        dispatcher: ctx.dispatcher,
        headers: auth,
      });
      await head.body.dump();
      if (head.statusCode === 200)
        return { path, digest, size, outcome: 'trusted', sent_bytes: 0, upload_id: null };
      progress = new UploadProgress(ctx.stderr, label, size, 0, ctx.quiet || ctx.json);
      meter = new Meter(progress, new RateLimiter(options.limitRate));
      const res = await request(url, {
        method: 'PUT',
        dispatcher: ctx.dispatcher,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(size),
          ...auth,
        },
        body:
          size === 0
            ? ''
            : createReadStream(path, { highWaterMark: sendChunk(options.limitRate) }).pipe(meter),
      });
      const text = await res.body.text();
      if ([413, 404, 405].includes(res.statusCode)) {
        progress.rewind(meter.counted);
        return null;
      }
      let answer: unknown = text;
      try {
        answer = JSON.parse(text);
      } catch {
        // not JSON: reported as text
      }
      if (res.statusCode === 200 || res.statusCode === 201 || res.statusCode === 202) {
        progress.finish();
        const put = answer as { upload_id: string; state: string };
        const final = await waitReady(ctx, {
          id: put.upload_id,
          state: put.state,
          failure_message: null,
        });
        if (final.state !== 'ready')
          throw new CliError(
            `the server refused ${path}: ${final.failure_message ?? final.state}`,
            EXIT.client,
          );
        // 200: the server had it after all (a blob this caller may not read, so the HEAD said
        // 404); the bytes went anyway and are counted.
        const outcome = res.statusCode === 200 ? 'trusted' : 'uploaded';
        return { path, digest, size, outcome, sent_bytes: size, upload_id: put.upload_id };
      }
      const error = apiError(what, { status: res.statusCode, statusText: '' } as Response, answer);
      progress.rewind(meter.counted);
      if (exitCodeForStatus(res.statusCode) !== EXIT.server || attempt >= 3) throw error;
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (progress && meter) progress.rewind(meter.counted);
      if (attempt >= 3) throw networkError(what, error);
    }
    await sleep(500 * attempt);
  }
}

/** A large upload may be verified by a worker after `complete` answers: wait for the verdict. */
async function waitReady(ctx: CliContext, session: Session): Promise<Session> {
  let current = session;
  while (current.state === 'completed' || current.state === 'verifying') {
    await sleep(500);
    current = await call<Session>(
      `reading upload ${session.id}`,
      ctx.client.GET('/v1/uploads/{upload_id}', { params: { path: { upload_id: session.id } } }),
    );
  }
  return current;
}
