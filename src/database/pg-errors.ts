/** The SQLSTATE and constraint of a PostgreSQL error, wherever TypeORM or pg put them. */
export function pgError(error: unknown): { code?: string; constraint?: string; message?: string } {
  const e = error as {
    code?: unknown;
    constraint?: unknown;
    driverError?: { code?: unknown; constraint?: unknown };
  };
  const source = e?.driverError ?? e;
  return {
    code: typeof source?.code === 'string' ? source.code : undefined,
    constraint: typeof source?.constraint === 'string' ? source.constraint : undefined,
    message: error instanceof Error ? error.message : undefined,
  };
}

export const UNIQUE_VIOLATION = '23505';
export const CHECK_VIOLATION = '23514';
export const FOREIGN_KEY_VIOLATION = '23503';
