import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AppConfig } from '../config/app-config';
import { NestPinoLogger, type Logger } from '../common/logging/logger';
import { createDataSource } from '../database/data-source';
import { pendingMigrations } from '../database/migration-runner';

/** The database is behind this build: the operator migrates first (exit 1). */
export class SchemaBehindError extends Error {
  constructor(readonly pending: readonly string[]) {
    super(
      `the database schema is behind this imgsrv (pending migrations: ${pending.join(', ')}); ` +
        'run `node dist/main.js migrate` first (serve also migrates)',
    );
    this.name = 'SchemaBehindError';
  }
}

/**
 * Maintenance commands never migrate: a server of another version may be running against the
 * same database, and changing its schema is the operator's decision (`migrate`, or `serve`).
 */
export async function assertSchemaCurrent(database: AppConfig['database']): Promise<void> {
  const dataSource = createDataSource({ ...database, poolSize: 1 });
  try {
    await dataSource.initialize();
  } catch (error) {
    // 3D000: the database does not exist, so nothing was ever migrated into it.
    if ((error as { code?: unknown }).code === '3D000') {
      throw new Error(`${(error as Error).message}; run \`node dist/main.js migrate\` first`, {
        cause: error,
      });
    }
    throw error;
  }
  try {
    const pending = await pendingMigrations(dataSource);
    if (pending.length > 0) throw new SchemaBehindError(pending);
  } finally {
    await dataSource.destroy();
  }
}

/** Checks the schema, then builds the application context of `module` (no listeners). */
export async function openMaintenanceContext(
  config: AppConfig,
  logger: Logger,
  module: DynamicModule,
): Promise<INestApplicationContext> {
  await assertSchemaCurrent(config.database);
  return NestFactory.createApplicationContext(module, {
    logger: new NestPinoLogger(logger),
    abortOnError: false,
  });
}

/** Runs `work` in the context and always closes it (database pool, Redis connections). */
export async function withMaintenanceContext<T>(
  config: AppConfig,
  logger: Logger,
  module: DynamicModule,
  work: (context: INestApplicationContext) => Promise<T>,
): Promise<T> {
  const context = await openMaintenanceContext(config, logger, module);
  try {
    return await work(context);
  } finally {
    await context.close();
  }
}
