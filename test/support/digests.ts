import { createHash } from 'node:crypto';

/** The SHA-256 of `data`, in hex. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The content address of `data`, as the API writes digests: `sha256:<hex>`. */
export function sha256Of(data: Uint8Array): string {
  return `sha256:${sha256Hex(data)}`;
}

/**
 * A well-formed digest of no bytes at all (`sha256:` and 64 times `c`), for requests that only
 * need a digest's shape: manifests citing blobs that were never uploaded, validation tests.
 */
export function fakeDigest(c: string): string {
  return `sha256:${c.repeat(64)}`;
}
