import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { createDataSource } from './data-source';

/** Serializes migrations across every process that starts against the same database. */
const MIGRATION_LOCK_KEY = 7_242_001;

/** The database named in `url`, after percent-decoding. */
export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new Error('the database URL names no database');
  return name;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Creates the database named in `url` when it does not exist yet. Safe to race. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const name = databaseName(url);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    // Concurrent CREATE DATABASE of one name fails with a catalog unique violation rather than
    // 42P04, so creators take turns under an advisory lock keyed by the name.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`imgsrv.create-database.${name}`]);
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    return true;
  } finally {
    await client.end();
  }
}

/** Applies pending migrations while holding a session advisory lock; returns their names. */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

/** Creates the database if needed and migrates it, with a short-lived connection. */
export async function prepareDatabase(
  database: AppConfig['database'],
): Promise<{ created: boolean; applied: string[] }> {
  const created = await ensureDatabase(database.url);
  const dataSource = createDataSource({ ...database, poolSize: 2 });
  await dataSource.initialize();
  try {
    return { created, applied: await runMigrations(dataSource) };
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Names of the migrations this build has that the database has not applied (all of them when it
 * was never migrated). Reads only: unlike TypeORM's showMigrations it creates no table.
 */
export async function pendingMigrations(dataSource: DataSource): Promise<string[]> {
  const table = dataSource.options.migrationsTableName ?? 'migrations';
  const [{ present }] = (await dataSource.query('SELECT to_regclass($1) IS NOT NULL AS present', [
    table,
  ])) as { present: boolean }[];
  const applied = new Set(
    present
      ? (
          (await dataSource.query(`SELECT name FROM ${quoteIdent(table)}`)) as { name: string }[]
        ).map((r) => r.name)
      : [],
  );
  return dataSource.migrations
    .map((m) => m.name ?? m.constructor.name)
    .filter((name) => !applied.has(name));
}
