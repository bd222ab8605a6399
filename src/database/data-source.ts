import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config';

/** Where the hand-written migrations live: `migrations/` beside `src/` and `dist/`. */
export const MIGRATIONS_GLOB = join(__dirname, '..', '..', 'migrations', '*.js');

/** The entities of a DataSource: the application's composition (src/app.entities.ts). */
export type Entities = NonNullable<DataSourceOptions['entities']>;

/**
 * The one options builder, used by the application, the migrate command and the tests. Migrations
 * and schema checks need no entities; the application passes its composition's.
 */
export function buildDataSourceOptions(
  database: AppConfig['database'],
  entities: Entities = [],
): DataSourceOptions {
  return {
    type: 'postgres',
    url: database.url,
    entities,
    migrations: [MIGRATIONS_GLOB],
    migrationsTableName: 'schema_migration',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    extra: {
      max: database.poolSize,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      application_name: 'imgsrv',
    },
  };
}

export function createDataSource(
  database: AppConfig['database'],
  entities: Entities = [],
): DataSource {
  return new DataSource(buildDataSourceOptions(database, entities));
}
