import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import pino from 'pino';
import {
  ConfigError,
  loadConfig,
  readProcessEnv,
  type AppConfig,
  type Env,
} from './config/app-config';
import { GC_MARK_DELAY_MS } from './cas/cas-maintenance.service';
import { buildOpenApiDocument } from './common/http/openapi';
import { createLogger, type Logger } from './common/logging/logger';
import { prepareDatabase } from './database/migration-runner';
import { UsageError } from './maintenance/command-args';
import {
  parseGcArgs,
  previewGc,
  previewJson,
  previewText,
  resultJson,
  resultText,
  runGc,
} from './maintenance/gc.command';
import { withMaintenanceContext } from './maintenance/maintenance-context';
import { MaintenanceModule } from './maintenance/maintenance.module';
import {
  describeDomainError,
  issueToken,
  parseTokenIssueArgs,
  parseTokenRevokeArgs,
  revokeToken,
} from './maintenance/token.command';
import { createApplication, startServer } from './server/bootstrap';
import { boundHeapGrowth } from './server/heap-growth';
import { httpProcessSlot, startHttpProcess, superviseHttpProcesses } from './server/http-processes';
import { noPretenuring } from './server/pretenuring';

const USAGE = `usage: node dist/main.js <command>

commands:
  serve               migrate the database (creating it if needed), then serve (IMGSRV_ROLES;
                      IMGSRV_HTTP_PROCESSES API processes sharing the listeners)
  migrate             apply pending migrations and exit
  openapi [--out F]   write the OpenAPI document (default openapi/openapi.json)

maintenance (same environment as serve; they refuse a database with pending migrations,
run migrate first; they start no listener and no worker; log to stderr):
  gc [--dry-run] [--json]
                      collect unreferenced trusted blobs past IMGSRV_CAS_GC_GRACE, as the
                      workers' sweep does: mark, and delete rows marked 5 minutes or more
                      ago (bytes after IMGSRV_CAS_GC_DELETE_DELAY); also expires upload
                      sessions and clears staging. --dry-run lists what would be deleted
                      and changes nothing
  token issue --principal NAME|ID [--role ROLE] [--images GLOBS] [--ttl DURATION] [--name TEXT]
                      create (or reuse) the principal, grant ROLE (default auth-manager,
                      scope * or GLOBS), issue a token valid for DURATION (default
                      IMGSRV_BOOTSTRAP_TOKEN_TTL) and print it alone on stdout, once;
                      audited as system:cli
  token revoke TOKEN_ID
                      revoke a token (its id, or the token itself); audited as system:cli

exit status: 0 done, 1 failed, 2 bad usage or configuration
`;

function loadConfigOrExit(env = readProcessEnv()): AppConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`imgsrv: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

async function serve(config: AppConfig, logger: Logger, env: Env): Promise<void> {
  const slot = config.http.processes > 1 ? httpProcessSlot(env) : null;
  if (slot !== null) {
    // One of a supervisor's API processes: the supervisor has migrated the database.
    const processLogger = logger.child({ httpProcess: slot });
    const server = await startHttpProcess(config, processLogger, slot);
    stopOnSignals(config, processLogger, () => server.close());
    return;
  }

  const { created, applied } = await prepareDatabase(config.database);
  if (created) logger.info('created the database');
  logger.info({ applied }, applied.length ? 'applied migrations' : 'database schema is up to date');

  const server =
    config.http.processes > 1
      ? await superviseHttpProcesses(config, logger)
      : await startServer(config, logger);
  logger.info(
    {
      ...server.urls,
      roles: config.roles,
      httpProcesses: config.http.processes,
      tlsCertFile: server.tlsCertFile,
    },
    'imgsrv is running',
  );
  // For a person at a terminal; a log collector has it in the line above.
  if (server.tlsCertFile && process.stdout.isTTY)
    process.stdout.write(`imgsrv: TLS certificate: ${server.tlsCertFile}\n`);
  stopOnSignals(config, logger, () => server.close());
}

/** SIGTERM and SIGINT stop the server gracefully, within the shutdown timeout plus a margin. */
function stopOnSignals(config: AppConfig, logger: Logger, close: () => Promise<void>): void {
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
    close().then(
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

/**
 * The maintenance commands' logger: stderr (stdout is their answer), warnings and errors unless
 * IMGSRV_LOG_LEVEL asks for more.
 */
function maintenanceLogger(config: AppConfig, levelSet: boolean): Logger {
  const level = levelSet ? config.log.level : 'warn';
  return createLogger({ ...config.log, level }, pino.destination({ dest: 2, sync: true }));
}

async function gc(config: AppConfig, logger: Logger, argv: string[]): Promise<void> {
  const args = parseGcArgs(argv);
  await withMaintenanceContext(
    config,
    logger,
    MaintenanceModule.forGc(config, logger),
    async (context) => {
      if (args.dryRun) {
        const preview = await previewGc(context);
        process.stdout.write(
          args.json ? `${JSON.stringify(previewJson(preview), null, 2)}\n` : previewText(preview),
        );
        return;
      }
      const result = await runGc(context);
      process.stdout.write(
        args.json
          ? `${JSON.stringify(resultJson(result), null, 2)}\n`
          : resultText(result, GC_MARK_DELAY_MS),
      );
    },
  );
}

async function token(config: AppConfig, logger: Logger, argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'issue') {
    const args = parseTokenIssueArgs(rest);
    const issued = await withMaintenanceContext(
      config,
      logger,
      MaintenanceModule.forAuth(config, logger),
      (context) => issueToken(context, args, config.auth.bootstrapTokenTtlMs),
    );
    const p = issued.principal;
    process.stderr.write(
      `imgsrv: ${p.created ? 'created' : 'reused'} principal ${JSON.stringify(p.displayName)} (${p.id}); ` +
        `${issued.granted ? 'granted' : 'already holds'} ${issued.role} on ${issued.images.join(',')}; ` +
        `token ${issued.tokenId} expires ${issued.expiresAt.toISOString()} (shown once, on stdout)\n`,
    );
    process.stdout.write(`${issued.plaintext}\n`);
    return;
  }
  if (sub === 'revoke') {
    const { tokenId } = parseTokenRevokeArgs(rest);
    await withMaintenanceContext(
      config,
      logger,
      MaintenanceModule.forAuth(config, logger),
      (context) => revokeToken(context, tokenId),
    );
    process.stderr.write(`imgsrv: revoked token ${tokenId}\n`);
    return;
  }
  throw new UsageError(
    sub ? `unknown token command ${JSON.stringify(sub)}` : 'token needs issue or revoke',
  );
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const env = readProcessEnv();
  const config = loadConfigOrExit(env);
  if (command === 'gc' || command === 'token') {
    const logger = maintenanceLogger(config, env.IMGSRV_LOG_LEVEL !== undefined);
    return command === 'gc' ? gc(config, logger, rest) : token(config, logger, rest);
  }
  const logger = createLogger(config.log);
  switch (command) {
    case 'serve':
      boundHeapGrowth(process.execArgv, env.NODE_OPTIONS ?? '');
      noPretenuring(process.execArgv, env.NODE_OPTIONS ?? '');
      return serve(config, logger, env);
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
  if (error instanceof UsageError) {
    process.stderr.write(`imgsrv: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  const message =
    describeDomainError(error) ?? (error instanceof Error ? error.message : String(error));
  process.stderr.write(`imgsrv: ${message}\n`);
  process.exit(1);
});
