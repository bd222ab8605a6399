// Building draft versions the way a build pipeline does: uploads, version, artifacts, attachments.
import { readFile } from 'node:fs/promises';
import { putBuffer, randomBlob, uploadBuffer } from './client.mjs';
import { makeIncusMetadata } from './context.mjs';

/** Uploads one incus.tar.xz for `image` and answers its {digest, size}. */
export async function uploadMetadata(api, dir, os, release) {
  const path = await makeIncusMetadata(dir, { os, release });
  return uploadBuffer(api, await readFile(path));
}

/**
 * A draft version with a VM (qcow2) and a container (squashfs) artifact of `rootSize` random
 * bytes each, both x86_64, both carrying the metadata tarball: two Incus images once published.
 * `oneRequest` uploads each root with PUT /v1/blobs/{digest} instead of an upload session.
 */
export async function makeDraft(api, { image, version, meta, rootSize, oneRequest = false }) {
  const base = `/v1/images/${image}/versions/${version}`;
  await api.post(`/v1/images/${image}/versions`, { version });
  const artifacts = [];
  for (const format of ['qcow2', 'squashfs']) {
    const root = await (oneRequest ? putBuffer : uploadBuffer)(api, randomBlob(rootSize));
    const artifact = (
      await api.post(`${base}/artifacts`, {
        operating_system: image,
        architecture: 'x86_64',
        format,
        primary_blob_digest: root.digest,
        primary_blob_size_bytes: root.size,
        primary_media_type: 'application/octet-stream',
      })
    ).body;
    await api.post(`${base}/artifacts/${artifact.id}/attachments`, {
      name: 'incus.tar.xz',
      media_type: 'application/x-xz',
      blob_digest: meta.digest,
      blob_size_bytes: meta.size,
    });
    artifacts.push(artifact);
  }
  return { base, artifacts };
}

/** Runs `work(i)` for i in [0, n) with at most `limit` in flight. */
export async function pool(n, limit, work) {
  let next = 0;
  const results = new Array(n);
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) {
        const i = next++;
        results[i] = await work(i);
      }
    }),
  );
  return results;
}
