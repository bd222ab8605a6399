/**
 * The narrow contract every blob-store driver (filesystem, S3) fulfils. Keys are opaque,
 * slash-separated paths chosen by the CAS service.
 */
export interface BlobStore {
  readonly driver: 'fs' | 's3';
  /** Resolves when the store answers and is writable; rejects with the reason otherwise. */
  check(): Promise<void>;
}

export const BLOB_STORE = Symbol('BLOB_STORE');
