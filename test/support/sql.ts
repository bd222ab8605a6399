import { Client } from 'pg';
import { eventually } from './waiting';

/**
 * PostgreSQL straight from a test (not through the application): reading state, and holding a
 * table lock to keep a step in the middle of its write.
 */

/** Runs `work` with a client connected straight to `url` (not through any proxy). */
export async function withDb<T>(url: string, work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

export async function sql<T = Record<string, any>>(
  url: string,
  query: string,
  params: unknown[] = [],
): Promise<T[]> {
  return withDb(url, async (db) => (await db.query(query, params)).rows as T[]);
}

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Holds `LOCK TABLE <table> IN <mode> MODE` in an open transaction on a connection straight to
 * PostgreSQL until released. SHARE lets reads go on and holds writers back: it keeps a step in
 * the middle of its fenced write, so a test can act while the step is certainly running.
 */
export async function holdTableLock(
  url: string,
  table: string,
  mode: 'SHARE' | 'ACCESS EXCLUSIVE' = 'SHARE',
): Promise<HeldLock> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('BEGIN');
    await db.query(`LOCK TABLE ${table} IN ${mode} MODE`);
  } catch (error) {
    await db.end();
    throw error;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      try {
        await db.query('ROLLBACK');
      } finally {
        await db.end();
      }
    },
  };
}

/**
 * Waits until some session of `database` waits on a lock: on `table` itself when given (a writer
 * held back by a table lock), else on any lock (row locks are waited for on transaction ids).
 */
export function waitForLockWaiter(url: string, database: string, table?: string): Promise<true> {
  return eventually(`a session waiting on a lock${table ? ` of ${table}` : ''}`, async () => {
    const rows = table
      ? await sql(
          url,
          `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE NOT l.granted AND l.relation = $1::regclass AND a.datname = $2`,
          [table, database],
        )
      : await sql(
          url,
          `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
          [database],
        );
    return rows.length > 0 ? true : undefined;
  });
}
