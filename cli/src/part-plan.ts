/** Pure planning of a multipart upload: which byte ranges, which parts still to send. */

export const MIB = 1024 * 1024;
/** The server's floor for every part but the last (docs/uploads.md). */
export const MIN_PART_SIZE = 5 * MIB;
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 16 * MIB;

export interface PlannedPart {
  readonly number: number;
  /** Offset of the first byte in the file. */
  readonly start: number;
  readonly size: number;
}

/** The part size to use: at least the floor, and large enough that the parts fit in 10 000. */
export function choosePartSize(fileSize: number, wanted = DEFAULT_PART_SIZE): number {
  const floor = Math.max(MIN_PART_SIZE, Math.ceil(fileSize / MAX_PARTS));
  return Math.max(wanted, floor);
}

/** Consecutive ranges covering the file; an empty file is one empty part. */
export function planParts(fileSize: number, partSize: number): PlannedPart[] {
  if (partSize <= 0) throw new Error('part size must be positive');
  const parts: PlannedPart[] = [];
  let start = 0;
  let number = 1;
  do {
    const size = Math.min(partSize, fileSize - start);
    parts.push({ number, start, size });
    start += size;
    number++;
  } while (start < fileSize);
  return parts;
}

export interface ReceivedPart {
  readonly part_number: number;
  readonly size_bytes: number;
  readonly etag: string;
}

/**
 * Splits the plan into parts the server already holds with the right size (kept, with their
 * etags) and parts to send.
 */
export function partsToSend(
  plan: readonly PlannedPart[],
  received: readonly ReceivedPart[],
): { keep: Map<number, string>; send: PlannedPart[] } {
  const byNumber = new Map(received.map((p) => [p.part_number, p]));
  const keep = new Map<number, string>();
  const send: PlannedPart[] = [];
  for (const part of plan) {
    const have = byNumber.get(part.number);
    if (have && have.size_bytes === part.size) keep.set(part.number, have.etag);
    else send.push(part);
  }
  return { keep, send };
}

/** Parses `16M`, `5MiB`, `1G`, `1048576` into bytes (binary units). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${JSON.stringify(text)}`);
  const power = ['', 'k', 'm', 'g', 't'].indexOf(m[2].toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}
