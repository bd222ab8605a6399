/** An inclusive byte range of an object, as HTTP writes it. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export type RangeRequest =
  | { readonly kind: 'none' }
  | { readonly kind: 'range'; readonly range: ByteRange }
  | { readonly kind: 'unsatisfiable' };

/**
 * Interprets a `Range` header against an object of `size` bytes (RFC 9110 §14). One range of
 * `bytes=a-b`, `a-` or `-n` is served; several ranges are refused as unsatisfiable (docs/uploads.md); a
 * header that is not a valid byte-range set is ignored, as the RFC asks, and the whole object is
 * served.
 */
export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (header === undefined || header === null) return { kind: 'none' };
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return { kind: 'none' };
  const specs = m[1].split(',').map((s) => s.trim());
  const parsed: Array<{ first: number | null; last: number | null }> = [];
  for (const spec of specs) {
    const r = /^(\d*)-(\d*)$/.exec(spec);
    if (!r || (r[1] === '' && r[2] === '')) return { kind: 'none' };
    const first = r[1] === '' ? null : Number(r[1]);
    const last = r[2] === '' ? null : Number(r[2]);
    if (!isSafe(first) || !isSafe(last)) return { kind: 'none' };
    if (first !== null && last !== null && last < first) return { kind: 'none' };
    parsed.push({ first, last });
  }
  if (parsed.length !== 1) return { kind: 'unsatisfiable' };
  const { first, last } = parsed[0];
  if (first === null) {
    // suffix range: the last `last` bytes
    if (last === 0 || size === 0) return { kind: 'unsatisfiable' };
    const n = Math.min(last as number, size);
    return { kind: 'range', range: { start: size - n, end: size - 1 } };
  }
  if (first >= size) return { kind: 'unsatisfiable' };
  const end = last === null ? size - 1 : Math.min(last, size - 1);
  return { kind: 'range', range: { start: first, end } };
}

function isSafe(n: number | null): boolean {
  return n === null || Number.isSafeInteger(n);
}

/** `Content-Range` of a served range, or of a refused one (`bytes *\/size`). */
export function contentRange(size: number, range?: ByteRange): string {
  return range ? `bytes ${range.start}-${range.end}/${size}` : `bytes */${size}`;
}

export function rangeLength(range: ByteRange): number {
  return range.end - range.start + 1;
}
