// The HTTP client side of the benchmarks: imgsrv's own API, driven the way an operator's tool
// drives it (undici, keep-alive, streamed request bodies).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Agent, request } from 'undici';
import { sleep } from './util.mjs';

const agent = new Agent({
  connections: 64,
  keepAliveTimeout: 30_000,
  bodyTimeout: 0,
  headersTimeout: 0,
});

export const sha256Hex = (bytes) => createHash('sha256').update(bytes).digest('hex');
export const digestOf = (bytes) => `sha256:${sha256Hex(bytes)}`;
export const randomBlob = (size) => randomBytes(size);

export class ApiError extends Error {
  constructor(method, path, status, body) {
    super(
      `${method} ${path} answered ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`,
    );
    this.status = status;
    this.body = body;
  }
}

/** A JSON API client for one imgsrv base URL and bearer token. */
export function apiClient(base, token) {
  const auth = token ? { authorization: `Bearer ${token}` } : {};
  async function call(method, path, body, { headers = {}, ok = [] } = {}) {
    const res = await request(`${base}${path}`, {
      method,
      dispatcher: agent,
      headers: {
        ...auth,
        ...headers,
        ...(body === undefined || Buffer.isBuffer(body) || typeof body?.pipe === 'function'
          ? {}
          : { 'content-type': 'application/json' }),
      },
      body:
        body === undefined || Buffer.isBuffer(body) || typeof body?.pipe === 'function'
          ? body
          : JSON.stringify(body),
    });
    const text = await res.body.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    if (res.statusCode >= 300 && !ok.includes(res.statusCode))
      throw new ApiError(method, path, res.statusCode, parsed);
    return { status: res.statusCode, body: parsed, headers: res.headers };
  }
  return {
    base,
    call,
    get: (path, opts) => call('GET', path, undefined, opts),
    post: (path, body, opts) => call('POST', path, body ?? {}, opts),
    put: (path, body, opts) => call('PUT', path, body, opts),
  };
}

/** A content-writer principal and token, made with the bootstrap token through the auth API. */
export async function writerToken(base, bootstrapToken) {
  const admin = apiClient(base, bootstrapToken);
  const principal = (
    await admin.post('/v1/auth/principals', { kind: 'service', display_name: 'bench' })
  ).body;
  await admin.put(`/v1/auth/principals/${principal.id}/roles/content-writer`, { images: ['*'] });
  const token = (
    await admin.post(`/v1/auth/principals/${principal.id}/api-tokens`, {
      name: 'bench',
      expires_at: new Date(Date.now() + 24 * 3_600_000).toISOString(),
    })
  ).body;
  return token.plaintext;
}

async function untilReady(api, session) {
  let state = session.state;
  for (let delay = 5; state !== 'ready'; delay = Math.min(delay * 2, 200)) {
    if (state === 'failed' || state === 'aborted' || state === 'expired')
      throw new Error(`upload ${session.id} ended ${state}: ${session.failure_message ?? ''}`);
    await sleep(delay);
    state = (await api.get(`/v1/uploads/${session.id}`)).body.state;
  }
}

/** Uploads an in-memory blob in one part; answers its digest. Already trusted digests are skipped. */
export async function uploadBuffer(api, bytes) {
  const digest = digestOf(bytes);
  const begin = await api.post('/v1/uploads', {
    expected_digest: digest,
    expected_size_bytes: bytes.length,
  });
  if (begin.body.state === 'ready') return { digest, size: bytes.length };
  const id = begin.body.id;
  const part = await api.put(`/v1/uploads/${id}/parts/1`, bytes, {
    headers: { 'content-type': 'application/octet-stream' },
  });
  const done = await api.post(`/v1/uploads/${id}/complete`, {
    parts: [{ number: 1, etag: part.body.etag, size_bytes: bytes.length }],
  });
  await untilReady(api, done.body);
  return { digest, size: bytes.length };
}

/** Uploads an in-memory blob in one request (PUT /v1/blobs/{digest}); answers its digest. */
export async function putBuffer(api, bytes) {
  const digest = digestOf(bytes);
  const res = await api.put(`/v1/blobs/${digest}`, bytes, {
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (res.status === 202) await untilReady(api, { id: res.body.upload_id, state: 'verifying' });
  return { digest, size: bytes.length };
}

/**
 * Uploads a file of known digest and size in parts of `partSize`, in order, each part streamed from
 * disk (never held in memory), then completes and waits for `ready`.
 */
export async function uploadFile(api, path, { digest, size, partSize }) {
  const begin = await api.post('/v1/uploads', {
    expected_digest: digest,
    expected_size_bytes: size,
  });
  if (begin.body.state === 'ready')
    throw new Error(`${digest} is already trusted: nothing to measure`);
  const id = begin.body.id;
  const parts = [];
  for (let offset = 0, number = 1; offset < size; offset += partSize, number++) {
    const length = Math.min(partSize, size - offset);
    const res = await api.put(
      `/v1/uploads/${id}/parts/${number}`,
      createReadStream(path, {
        start: offset,
        end: offset + length - 1,
        highWaterMark: 1024 * 1024,
      }),
      { headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) } },
    );
    parts.push({ number, etag: res.body.etag, size_bytes: length });
  }
  const done = await api.post(`/v1/uploads/${id}/complete`, { parts });
  await untilReady(api, done.body);
}

/** Publishes a draft and polls its job until it succeeds; answers the job. */
export async function publishAndWait(
  api,
  image,
  version,
  { pollMs = 5, timeoutMs = 600_000 } = {},
) {
  const start = await api.post(`/v1/images/${image}/versions/${version}/publish`, {});
  return waitForJob(api, start.body.id, { pollMs, timeoutMs });
}

export async function waitForJob(api, jobId, { pollMs = 5, timeoutMs = 600_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await api.get(`/v1/publish-jobs/${jobId}`)).body;
    if (job.state === 'succeeded') return job;
    if (job.state === 'failed' || job.state === 'cancelled')
      throw new Error(`publish job ${jobId} ${job.state}: ${job.failure_message ?? ''}`);
    if (Date.now() > deadline) throw new Error(`publish job ${jobId} still ${job.state}`);
    await sleep(pollMs);
  }
}

export { agent };
