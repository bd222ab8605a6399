import { readFile } from 'node:fs/promises';
import { sha256Of } from './digests';
import type { TestApp } from './test-app';

const PART = 8 * 1024 * 1024;

/**
 * Uploads bytes through the real upload API (begin, parts of 8 MiB, complete) and returns the
 * trusted digest and size. Throws with the server's answer on any failure.
 */
export async function uploadBlob(
  app: TestApp,
  headers: Record<string, string>,
  source: Buffer | string,
): Promise<{ digest: string; size: number }> {
  const bytes = typeof source === 'string' ? await readFile(source) : source;
  const digest = sha256Of(bytes);
  const json = { ...headers, 'content-type': 'application/json' };
  const begin = await app.fetch('/v1/uploads', {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ expected_digest: digest, expected_size_bytes: bytes.length }),
  });
  const session = (await begin.json()) as { id: string; state: string };
  if (begin.status === 200 && session.state === 'ready') return { digest, size: bytes.length };
  if (begin.status !== 201)
    throw new Error(`begin answered ${begin.status}: ${JSON.stringify(session)}`);

  const parts: { number: number; etag: string; size_bytes: number }[] = [];
  for (let offset = 0, n = 1; offset < bytes.length || n === 1; offset += PART, n++) {
    const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + PART));
    const res = await app.fetch(`/v1/uploads/${session.id}/parts/${n}`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: chunk,
    });
    const part = (await res.json()) as { etag: string; size_bytes: number };
    if (res.status !== 200)
      throw new Error(`part ${n} answered ${res.status}: ${JSON.stringify(part)}`);
    parts.push({ number: n, etag: part.etag, size_bytes: part.size_bytes });
    if (offset + PART >= bytes.length) break;
  }
  const done = await app.fetch(`/v1/uploads/${session.id}/complete`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ parts }),
  });
  let state = ((await done.json()) as { state: string }).state;
  for (let i = 0; state !== 'ready' && i < 200; i++) {
    if (state === 'failed') throw new Error(`upload ${session.id} failed`);
    await new Promise((r) => setTimeout(r, 100));
    state = (
      (await (await app.fetch(`/v1/uploads/${session.id}`, { headers })).json()) as {
        state: string;
      }
    ).state;
  }
  if (state !== 'ready') throw new Error(`upload ${session.id} never became ready (${state})`);
  return { digest, size: bytes.length };
}
