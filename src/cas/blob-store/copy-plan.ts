import type { ByteRange } from '../../common/http/byte-range';

const MIB = 1024 * 1024;
/** S3 copies at most 5 GiB in one CopyObject or UploadPartCopy. */
export const MAX_COPY_BYTES = 5 * 1024 * MIB;
const MAX_PARTS = 10_000;

/**
 * The byte ranges of a multipart server-side copy (UploadPartCopy) of an object of `size` bytes:
 * parts of `partBytes` (at least 5 MiB, at most 5 GiB), grown if needed to stay within 10 000
 * parts.
 */
export function copyRanges(size: number, partBytes = 512 * MIB): ByteRange[] {
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new Error(`cannot plan a copy of ${size} bytes`);
  const step = Math.min(MAX_COPY_BYTES, Math.max(partBytes, 5 * MIB, Math.ceil(size / MAX_PARTS)));
  if (Math.ceil(size / step) > MAX_PARTS)
    throw new Error(`an object of ${size} bytes is too large`);
  const ranges: ByteRange[] = [];
  for (let start = 0; start < size; start += step) {
    ranges.push({ start, end: Math.min(start + step, size) - 1 });
  }
  return ranges;
}
