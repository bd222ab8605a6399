import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, loadConfig, readProcessEnv, type AppConfig } from './config/app-config';
import { buildOpenApiDocument } from './common/http/openapi';
import { createLogger, type Logger } from './common/logging/logger';
import { prepareDatabase } from './database/migration-runner';
import { createApplication, startServer } from './server/bootstrap';

const USAGE = `usage: node dist/main.js <command>

commands:
  serve               migrate the database (creating it if needed), then serve (IMGSRV_ROLES)
  migrate             apply pending migrations and exit
  openapi [--out F]   write the OpenAPI document (default openapi/openapi.json)
`;

function loadConfigOrExit(): AppConfig {
  try {
    return loadConfig(readProcessEnv());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`imgsrv: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

async function serve(config: AppConfig, logger: Logger): Promise<void> {
  const { created, applied } = await prepareDatabase(config.database);
  if (created) logger.info('created the database');
  logger.info({ applied }, applied.length ? 'applied migrations' : 'database schema is up to date');

  const server = await startServer(config, logger);
  logger.info(
    { ...server.urls, roles: config.roles, tlsCertFile: server.tlsCertFile },
    'imgsrv is running',
  );
  if (server.tlsCertFile) process.stdout.write(`imgsrv: TLS certificate: ${server.tlsCertFile}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 10_000);
    hardStop.unref();
    server.close().then(
      () => {
        logger.info('stopped');
        logger.flush();
        process.exitCode = 0;
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function writeOpenApi(config: AppConfig, logger: Logger, out: string): Promise<void> {
  const { app } = await createApplication(config, logger, { preview: true });
  const document = buildOpenApiDocument(app);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(document, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const config = loadConfigOrExit();
  const logger = createLogger(config.log);
  switch (command) {
    case 'serve':
      return serve(config, logger);
    case 'migrate': {
      const { created, applied } = await prepareDatabase(config.database);
      process.stdout.write(
        `${created ? 'created the database; ' : ''}${applied.length ? `applied: ${applied.join(', ')}` : 'nothing to apply'}\n`,
      );
      return;
    }
    case 'openapi': {
      const i = rest.indexOf('--out');
      const out = resolve(i >= 0 && rest[i + 1] ? rest[i + 1] : 'openapi/openapi.json');
      await writeOpenApi(config, createLogger({ ...config.log, level: 'error' }), out);
      // Preview mode leaves the BullMQ and database modules unopened; nothing to wait for.
      process.exit(0);
      return;
    }
    default:
      process.stderr.write(`imgsrv: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`imgsrv: ${message}\n`);
  process.exit(1);
});
