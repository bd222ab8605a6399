import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '../../src/database/data-source';
import { ensureDatabase, prepareDatabase } from '../../src/database/migration-runner';
import {
  dropDatabase,
  uniqueTestDatabaseName,
  urlForDatabase,
  withAdminClient,
} from '../support/test-database';

describe('database preparation', () => {
  const name = uniqueTestDatabaseName('migrate');
  const url = urlForDatabase(name);

  afterAll(() => dropDatabase(name));

  it('creates a missing database, migrates it once under concurrent starts, then is a no-op', async () => {
    const results = await Promise.all([1, 2, 3].map(() => prepareDatabase({ url, poolSize: 2 })));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const appliedNames = results.flatMap((r) => r.applied);
    expect(new Set(appliedNames).size).toBe(appliedNames.length);
    expect(appliedNames.length).toBeGreaterThan(0);

    const again = await prepareDatabase({ url, poolSize: 2 });
    expect(again).toEqual({ created: false, applied: [] });

    const rows = await withAdminClient(async (c) => {
      const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      return exists.rowCount;
    });
    expect(rows).toBe(1);

    const dataSource = new DataSource(buildDataSourceOptions({ url, poolSize: 1 }));
    await dataSource.initialize();
    try {
      const recorded = await dataSource.query('SELECT name FROM schema_migration ORDER BY id');
      expect(recorded.map((r: { name: string }) => r.name)).toEqual(appliedNames);
      expect(await dataSource.showMigrations()).toBe(false);
    } finally {
      await dataSource.destroy();
    }
  });

  it('reports an existing database as not created', async () => {
    await expect(ensureDatabase(url)).resolves.toBe(false);
  });
});
