import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Agent, fetch, type RequestInit, type Response } from 'undici';
import { generateApiToken } from '../../src/auth/api-token';
import { loadConfig, type AppConfig, type Env } from '../../src/config/app-config';
import { createLogger, type Logger } from '../../src/common/logging/logger';
import { startServer, type RunningServer } from '../../src/server/bootstrap';
import { createTestDatabase, type TestDatabase } from './test-database';

/** Log lines the app wrote during a test, for assertions (and to keep test output quiet). */
export class LogCapture {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
    if (process.env.IMGSRV_TEST_LOG) process.stdout.write(line);
  }
  text(): string {
    return this.lines.join('');
  }
}

export interface TestEnvOptions {
  databaseUrl: string;
  dataDir: string;
  env?: Env;
}

/** The environment of an app under test: its own database, Redis prefix and data directory. */
export function testEnv({ databaseUrl, dataDir, env = {} }: TestEnvOptions): Env {
  return {
    IMGSRV_DATABASE_URL: databaseUrl,
    IMGSRV_DATA_DIR: dataDir,
    IMGSRV_REDIS_PREFIX: `imgsrv-test-${randomBytes(4).toString('hex')}`,
    IMGSRV_LISTEN: '127.0.0.1:0',
    IMGSRV_TLS_LISTEN: '127.0.0.1:0',
    IMGSRV_METRICS_LISTEN: '127.0.0.1:0',
    IMGSRV_LOG_LEVEL: 'debug',
    IMGSRV_SHUTDOWN_TIMEOUT: '2s',
    IMGSRV_BOOTSTRAP_TOKEN: generateApiToken().plaintext,
    // Gauges counted from the database answer what it holds at each scrape; their caching has a
    // test of its own (metrics-max-age).
    IMGSRV_METRICS_MAX_AGE: '0s',
    // Tests send webhooks to the hosts they allow (loopback), never out past this machine.
    IMGSRV_WEBHOOK_ONLY_ALLOWED_HOSTS: 'true',
    ...env,
  };
}

export interface TestApp {
  readonly config: AppConfig;
  readonly server: RunningServer;
  readonly logs: LogCapture;
  readonly logger: Logger;
  readonly database: TestDatabase;
  readonly dataDir: string;
  /** The auth-manager token the app bootstrapped with (IMGSRV_BOOTSTRAP_TOKEN). */
  readonly bootstrapToken: string;
  /** Base URL of the plain HTTP listener. */
  readonly url: string;
  /** fetch against the app, relative to its HTTP (or, with tls: true, HTTPS) listener. */
  fetch(path: string, init?: RequestInit & { tls?: boolean }): Promise<Response>;
  close(): Promise<void>;
}

/** An agent that trusts the app's self-signed certificate for HTTPS requests in tests. */
const insecureAgent = new Agent({ connect: { rejectUnauthorized: false } });

/**
 * Starts the real application, exactly as main.ts does (same startServer, same configureApp),
 * against a fresh clone of the migrated template database.
 */
export async function startTestApp(
  options: { env?: Env; database?: TestDatabase } = {},
): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  const dataDir = await mkdtemp(join(tmpdir(), 'imgsrv-test-'));
  const config = loadConfig(testEnv({ databaseUrl: database.url, dataDir, env: options.env }));
  const logs = new LogCapture();
  const logger = createLogger(config.log, logs);
  const server = await startServer(config, logger);
  const url = server.urls.http ?? '';
  return {
    config,
    server,
    logs,
    logger,
    database,
    dataDir,
    url,
    bootstrapToken: config.auth.bootstrapToken ?? '',
    fetch: (path, init = {}) => {
      const { tls, ...rest } = init;
      const base = tls ? server.urls.https : server.urls.http;
      if (!base) throw new Error(`the app has no ${tls ? 'HTTPS' : 'HTTP'} listener`);
      return fetch(`${base}${path}`, { ...rest, dispatcher: tls ? insecureAgent : undefined });
    },
    close: async () => {
      await server.close();
      if (!options.database) await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
