import { prepareDatabase } from '../../src/database/migration-runner';
import { assertTestDatabase, uniqueTestDatabaseName, urlForDatabase } from './test-database';

/** Migrates one template database for the whole run; each test file clones it. */
export default async function globalSetup(): Promise<void> {
  if (process.env.IMGSRV_TEST_TEMPLATE_DB) return;
  const name = uniqueTestDatabaseName('template');
  assertTestDatabase(name);
  await prepareDatabase({ url: urlForDatabase(name), poolSize: 2 });
  process.env.IMGSRV_TEST_TEMPLATE_DB = name;
}
