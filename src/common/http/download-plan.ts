import { parseRange, contentRange, rangeLength, type ByteRange } from './byte-range';

/** What is known about the bytes before any of them is read. */
export interface DownloadMeta {
  readonly digest: string;
  readonly sizeBytes: number;
  readonly mediaType: string;
  readonly filename: string;
  readonly lastModified: Date;
  /** Published content never changes: long, public, immutable caching. */
  readonly immutable: boolean;
}

export interface DownloadRequest {
  readonly method: string;
  readonly range?: string;
  readonly ifRange?: string;
  readonly ifNoneMatch?: string;
  readonly ifModifiedSince?: string;
}

export interface DownloadPlan {
  readonly status: 200 | 206 | 304 | 416;
  readonly headers: Record<string, string>;
  /** The bytes to stream: the whole object, one range, or nothing (HEAD, 304, 416). */
  readonly body: { readonly range?: ByteRange } | null;
  readonly kind: 'full' | 'range' | 'not_modified' | 'unsatisfiable';
}

/** Strong validator of content-addressed bytes: the digest itself. */
export const etagOf = (digest: string) => `"${digest}"`;

function matchesAny(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  // If-None-Match uses weak comparison: W/"x" matches "x".
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** HTTP dates have second precision: compare what the header can say. */
function notModifiedSince(header: string, lastModified: Date): boolean {
  const since = Date.parse(header);
  return Number.isFinite(since) && Math.floor(lastModified.getTime() / 1000) * 1000 <= since;
}

/**
 * Decides the answer to a download (RFC 9110): conditional requests first (If-None-Match, or
 * If-Modified-Since without it), then one byte range gated by If-Range. Pure: no I/O.
 */
export function planDownload(request: DownloadRequest, meta: DownloadMeta): DownloadPlan {
  const etag = etagOf(meta.digest);
  const base: Record<string, string> = {
    etag,
    'last-modified': meta.lastModified.toUTCString(),
    'accept-ranges': 'bytes',
    'cache-control': meta.immutable ? 'public, max-age=31536000, immutable' : 'private, no-cache',
  };

  const notModified =
    request.ifNoneMatch !== undefined
      ? matchesAny(request.ifNoneMatch, etag)
      : request.ifModifiedSince !== undefined &&
        notModifiedSince(request.ifModifiedSince, meta.lastModified);
  if (notModified) return { status: 304, headers: base, body: null, kind: 'not_modified' };

  const entity = {
    ...base,
    'content-type': meta.mediaType,
    'content-disposition': `attachment; filename="${meta.filename}"`,
    'x-content-type-options': 'nosniff',
  };
  const head = request.method === 'HEAD';
  const rangeApplies =
    request.range !== undefined &&
    (request.ifRange === undefined ||
      request.ifRange.trim() === etag ||
      request.ifRange.trim() === meta.lastModified.toUTCString());
  const wanted = rangeApplies
    ? parseRange(request.range, meta.sizeBytes)
    : ({ kind: 'none' } as const);

  if (wanted.kind === 'unsatisfiable') {
    return {
      status: 416,
      headers: { ...base, 'content-range': contentRange(meta.sizeBytes) },
      body: null,
      kind: 'unsatisfiable',
    };
  }
  if (wanted.kind === 'range') {
    return {
      status: 206,
      headers: {
        ...entity,
        'content-range': contentRange(meta.sizeBytes, wanted.range),
        'content-length': String(rangeLength(wanted.range)),
      },
      body: head ? null : { range: wanted.range },
      kind: 'range',
    };
  }
  return {
    status: 200,
    headers: { ...entity, 'content-length': String(meta.sizeBytes) },
    body: head ? null : {},
    kind: 'full',
  };
}
