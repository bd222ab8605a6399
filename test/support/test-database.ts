import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { Client } from 'pg';
import { databaseName, quoteIdent } from '../../src/database/migration-runner';

/** The server the tests use: the machine's PostgreSQL unless IMGSRV_TEST_PG_URL says otherwise. */
export function testServerUrl(): string {
  return (
    process.env.IMGSRV_TEST_PG_URL ??
    `postgres://${encodeURIComponent(userInfo().username)}@127.0.0.1:5432/postgres`
  );
}

export function urlForDatabase(name: string): string {
  const u = new URL(testServerUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

/** Tests create and drop databases: refuse any database whose name does not say it is a test one. */
export function assertTestDatabase(urlOrName: string): void {
  const name = urlOrName.includes('://') ? databaseName(urlOrName) : urlOrName;
  if (!/(^|_)test(_|$)/.test(name)) {
    throw new Error(
      `refusing to use database ${JSON.stringify(name)}: its name does not mark it as a test database`,
    );
  }
}

export async function withAdminClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: testServerUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function uniqueTestDatabaseName(kind: string): string {
  return `imgsrv_test_${kind}_${randomBytes(5).toString('hex')}`;
}

export function templateDatabaseName(): string {
  const name = process.env.IMGSRV_TEST_TEMPLATE_DB;
  if (!name)
    throw new Error(
      'IMGSRV_TEST_TEMPLATE_DB is not set: run through jest, whose global setup migrates the template',
    );
  return name;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

export async function dropDatabase(name: string): Promise<void> {
  assertTestDatabase(name);
  await withAdminClient((c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
}

/** A database of this test file's own, cloned from the migrated template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = uniqueTestDatabaseName('db');
  const template = templateDatabaseName();
  assertTestDatabase(name);
  assertTestDatabase(template);
  await withAdminClient((c) =>
    c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`),
  );
  return { name, url: urlForDatabase(name), drop: () => dropDatabase(name) };
}
