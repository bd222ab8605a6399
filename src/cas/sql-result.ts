/**
 * TypeORM's raw query answers rows for SELECT and INSERT, but `[rows, count]` for UPDATE and
 * DELETE on PostgreSQL. Both become rows here.
 */
export function rowsOf<T>(result: unknown): T[] {
  if (
    Array.isArray(result) &&
    result.length === 2 &&
    Array.isArray(result[0]) &&
    typeof result[1] === 'number'
  ) {
    return result[0] as T[];
  }
  return result as T[];
}

export function countOf(result: unknown): number {
  if (Array.isArray(result) && result.length === 2 && typeof result[1] === 'number')
    return result[1];
  return Array.isArray(result) ? result.length : 0;
}
