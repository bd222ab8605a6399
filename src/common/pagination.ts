import { DomainError } from './errors/domain-error';
import { unstorableText } from './text';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

/**
 * A list endpoint's answer: the page's items, each turned into its response shape, under the
 * list's name, and the cursor of the next page (null on the last).
 */
export function pageResponse<K extends string, T, U>(
  key: K,
  page: Page<T>,
  toItem: (item: T) => U,
): Record<K, U[]> & { next_cursor: string | null } {
  return { [key]: page.items.map((item) => toItem(item)), next_cursor: page.nextCursor } as Record<
    K,
    U[]
  > & { next_cursor: string | null };
}

/** Cursors are opaque to clients: base64url JSON of the last row's sort key. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * What one part of a cursor's key is: text (a name), an ISO timestamp with milliseconds as
 * toISOString writes it, a UUID, or a bigint id as a safe non-negative integer.
 */
export type CursorPart = 'text' | 'timestamp' | 'uuid' | 'id';

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isPart(kind: CursorPart, value: unknown): boolean {
  switch (kind) {
    case 'text':
      // What the database can hold and a list key can be: no NUL, no lone surrogate.
      return typeof value === 'string' && value.length <= 1024 && unstorableText(value) === null;
    case 'timestamp':
      return (
        typeof value === 'string' && ISO_TIMESTAMP.test(value) && Number.isFinite(Date.parse(value))
      );
    case 'uuid':
      return typeof value === 'string' && UUID.test(value);
    case 'id':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  }
}

/**
 * Decodes a cursor made by encodeCursor whose key has the given parts, each checked for its kind
 * (so no forged cursor reaches SQL as a value of the wrong type); 400 otherwise.
 */
export function decodeCursor(
  cursor: string | undefined,
  parts: readonly CursorPart[],
): (string | number)[] | null {
  if (cursor === undefined) return null;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(key) &&
      key.length === parts.length &&
      parts.every((kind, i) => isPart(kind, key[i]))
    ) {
      return key as (string | number)[];
    }
  } catch {
    // fall through
  }
  throw DomainError.validation([
    { pointer: '/query/cursor', detail: 'not a cursor this list issued' },
  ]);
}

/**
 * Given up to limit + 1 rows in order, the page and the cursor of its last row when more follow.
 */
export function pageOf<T>(
  rows: T[],
  limit: number,
  keyOf: (row: T) => (string | number)[],
): Page<T> {
  const items = rows.slice(0, limit);
  const more = rows.length > limit;
  return { items, nextCursor: more ? encodeCursor(keyOf(items[items.length - 1])) : null };
}
