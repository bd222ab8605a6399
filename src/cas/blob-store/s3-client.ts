import { S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import type { BlobStoreConfig } from '../../config/app-config';
import { DomainError } from '../../common/errors/domain-error';

/**
 * The S3 client the s3 store talks through, and what its errors mean to the store: not found,
 * unsupported by this server, unavailable (DEPENDENCY_UNAVAILABLE) or full (STORAGE_FULL).
 * S3BlobStore (s3-blob-store.ts) is the protocol on top.
 */

/** The first `n` bytes of `source`; the rest is never read. */
export function limitTo(source: Readable, n: number): Readable {
  let left = n;
  const out = new Readable({
    read() {
      source.resume();
    },
    destroy(error, callback) {
      source.destroy();
      callback(error);
    },
  });
  source.on('data', (chunk: Buffer) => {
    if (left <= 0) return;
    const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= piece.length;
    if (!out.push(piece)) source.pause();
    if (left === 0) {
      out.push(null);
      source.destroy();
    }
  });
  source.on('end', () => {
    if (left > 0) out.destroy(new Error('the object ended before the requested range'));
  });
  source.on('error', (e) => out.destroy(e));
  return out;
}

export type S3Config = Extract<BlobStoreConfig, { driver: 's3' }>;

const SILENT = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    endpoint: config.endpoint ?? undefined,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    credentials:
      config.accessKeyId && config.secretAccessKey
        ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
        : undefined,
    maxAttempts: 3,
    // Every failure reaches the caller, which translates and logs it; the SDK would otherwise
    // print to the console (for example when a client abandons a streamed part).
    logger: SILENT,
    // A store that does not answer is a 503, not a request that hangs for ever.
    requestHandler: { connectionTimeout: 5_000, socketTimeout: 120_000 },
    // Checksums only where S3 requires them: many S3-compatible servers do not understand the
    // SDK's default aws-chunked trailing checksums. imgsrv verifies every byte with sha256 itself.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

interface S3ErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'TimeoutError',
  'RequestTimeout',
]);

export function errorName(e: unknown): string {
  const s = (e ?? {}) as S3ErrorShape;
  return s.name ?? s.Code ?? s.code ?? '';
}

export function statusOf(e: unknown): number | undefined {
  return ((e ?? {}) as S3ErrorShape).$metadata?.httpStatusCode;
}

export function isNotFound(e: unknown): boolean {
  return ['NoSuchKey', 'NotFound'].includes(errorName(e)) || statusOf(e) === 404;
}

export function isUnsupported(e: unknown): boolean {
  return ['NotImplemented', 'MethodNotAllowed'].includes(errorName(e));
}

export function isUnavailable(e: unknown): boolean {
  const s = (e ?? {}) as S3ErrorShape;
  if (errorName(e) === 'AbortError') return false;
  if (NETWORK_CODES.has(errorName(e)) || (s.code && NETWORK_CODES.has(s.code))) return true;
  // The SDK wraps transport failures (refused, reset, DNS) in an error with $metadata but no
  // HTTP status: no answer came back at all.
  if (s.$metadata && s.$metadata.httpStatusCode === undefined) return true;
  const status = statusOf(e);
  return status !== undefined && status >= 500 && status !== 501;
}

/** Unreachable or failing S3 becomes DEPENDENCY_UNAVAILABLE; other errors pass unchanged. */
export function translate(e: unknown): unknown {
  if (e instanceof DomainError) return e;
  if (isUnavailable(e)) {
    return new DomainError('DEPENDENCY_UNAVAILABLE', 'The blob store (S3) does not answer.');
  }
  return e;
}

export function stripQuotes(etag: string | undefined): string {
  return (etag ?? '').replace(/"/g, '');
}
