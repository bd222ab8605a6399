import type { FieldError } from '../common/errors/domain-error';

import {
  MAX_PART_NUMBER,
  MAX_PART_SIZE,
  MIN_NON_FINAL_PART_SIZE,
  MIN_PART_NUMBER,
} from './cas-limits';

export function isValidPartNumber(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PART_NUMBER && n <= MAX_PART_NUMBER;
}

/** A part as the client lists it in complete. */
export interface ListedPart {
  readonly number: number;
  readonly etag: string;
  readonly sizeBytes: number;
}

/** A part as the server recorded it. */
export interface ReceivedPart {
  readonly partNumber: number;
  readonly etag: string;
  readonly sizeBytes: number;
}

/** Shape problems of a complete request's parts list: order, duplicates, ranges. */
export function checkPartsList(parts: readonly ListedPart[]): FieldError[] {
  const errors: FieldError[] = [];
  if (parts.length === 0) {
    return [{ pointer: '/parts', detail: 'must list at least one part' }];
  }
  if (parts.length > MAX_PART_NUMBER) {
    return [{ pointer: '/parts', detail: `must list at most ${MAX_PART_NUMBER} parts` }];
  }
  const seen = new Set<number>();
  parts.forEach((p, i) => {
    if (!isValidPartNumber(p.number)) {
      errors.push({
        pointer: `/parts/${i}/number`,
        detail: `must be an integer from ${MIN_PART_NUMBER} to ${MAX_PART_NUMBER}`,
      });
    } else if (seen.has(p.number)) {
      errors.push({ pointer: `/parts/${i}/number`, detail: `part ${p.number} is listed twice` });
    } else if (i > 0 && isValidPartNumber(parts[i - 1].number) && p.number < parts[i - 1].number) {
      errors.push({
        pointer: `/parts/${i}/number`,
        detail: 'parts must be listed in ascending order',
      });
    }
    seen.add(p.number);
    if (typeof p.etag !== 'string' || p.etag.length === 0 || p.etag.length > 256) {
      errors.push({
        pointer: `/parts/${i}/etag`,
        detail: 'must be the etag the part was answered with',
      });
    }
    if (!Number.isSafeInteger(p.sizeBytes) || p.sizeBytes < 0 || p.sizeBytes > MAX_PART_SIZE) {
      errors.push({
        pointer: `/parts/${i}/size_bytes`,
        detail: 'must be a whole number of bytes up to 5 GiB',
      });
    }
  });
  return errors;
}

/** Listed parts the server did not receive as listed (number, etag and size must all match). */
export function checkPartsReceived(
  parts: readonly ListedPart[],
  received: ReadonlyMap<number, ReceivedPart>,
): FieldError[] {
  const errors: FieldError[] = [];
  parts.forEach((p, i) => {
    const r = received.get(p.number);
    if (!r) {
      errors.push({ pointer: `/parts/${i}/number`, detail: `part ${p.number} was not received` });
    } else if (r.etag !== p.etag) {
      errors.push({
        pointer: `/parts/${i}/etag`,
        detail: `part ${p.number} has etag ${r.etag}; it was replaced or never sent with this etag`,
      });
    } else if (r.sizeBytes !== p.sizeBytes) {
      errors.push({
        pointer: `/parts/${i}/size_bytes`,
        detail: `part ${p.number} has ${r.sizeBytes} bytes`,
      });
    }
  });
  return errors;
}

/** Non-final parts under the S3 minimum. */
export function checkPartSizes(parts: readonly ListedPart[]): FieldError[] {
  return parts.slice(0, -1).flatMap((p, i) =>
    p.sizeBytes < MIN_NON_FINAL_PART_SIZE
      ? [
          {
            pointer: `/parts/${i}/size_bytes`,
            detail: `part ${p.number} has ${p.sizeBytes} bytes; every part but the last needs at least 5 MiB`,
          },
        ]
      : [],
  );
}

export function totalSize(parts: readonly { readonly sizeBytes: number }[]): number {
  return parts.reduce((sum, p) => sum + p.sizeBytes, 0);
}

/** Two parts lists name the same parts in the same order. */
export function samePartsList(a: readonly ListedPart[], b: readonly ListedPart[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (p, i) => p.number === b[i].number && p.etag === b[i].etag && p.sizeBytes === b[i].sizeBytes,
    )
  );
}

/** A part's place in the running hash: the state after it, and the part it continued from. */
export interface ChainLink extends ReceivedPart {
  readonly hashState: Uint8Array | null;
  readonly chainPrevPart: number | null;
  readonly chainPrevEtag: string | null;
}

export interface HashedPrefix {
  /** How many of the listed parts, from the first, the running hash already covers. */
  readonly parts: number;
  readonly bytes: number;
  /** The saved hash state after those parts (null when none are covered). */
  readonly state: Uint8Array | null;
}

/**
 * How far the running hash computed while parts streamed in covers the final parts list. Part i
 * is covered when its state was saved while continuing exactly from listed part i-1 (same number
 * and etag), or from nothing for the first part. A part re-sent later, or sent before its
 * predecessor, breaks the chain; what follows the break is hashed by reading the staged object.
 */
export function hashedPrefix(
  listed: readonly ListedPart[],
  received: ReadonlyMap<number, ChainLink>,
): HashedPrefix {
  let bytes = 0;
  let state: Uint8Array | null = null;
  for (let i = 0; i < listed.length; i++) {
    const link = received.get(listed[i].number);
    if (!link || link.etag !== listed[i].etag || link.hashState === null)
      return { parts: i, bytes, state };
    const prev = i === 0 ? null : listed[i - 1];
    const continues =
      prev === null
        ? link.chainPrevPart === null && link.chainPrevEtag === null
        : link.chainPrevPart === prev.number && link.chainPrevEtag === prev.etag;
    if (!continues) return { parts: i, bytes, state };
    bytes += link.sizeBytes;
    state = link.hashState;
  }
  return { parts: listed.length, bytes, state };
}
