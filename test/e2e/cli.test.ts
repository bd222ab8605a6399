import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { testEnv } from '../support/test-app';
import {
  createTestDatabase,
  dropDatabase,
  uniqueTestDatabaseName,
  urlForDatabase,
  type TestDatabase,
} from '../support/test-database';

const MAIN = resolve(__dirname, '../../dist/main.js');

function run(args: string[], env: Record<string, string | undefined>) {
  return spawnSync(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('the imgsrv process', () => {
  let dataDir: string;
  let database: TestDatabase;

  beforeAll(async () => {
    if (!existsSync(MAIN))
      throw new Error('dist/main.js is missing: npm test builds it first (npm run build)');
    dataDir = await mkdtemp(join(tmpdir(), 'imgsrv-cli-'));
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses an invalid configuration, listing every problem, with a non-zero exit', () => {
    const result = run(['serve'], { IMGSRV_LISTEN: 'nonsense', IMGSRV_BLOB_STORE: 's4' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/IMGSRV_LISTEN: must be host:port/);
    expect(result.stderr).toMatch(/IMGSRV_BLOB_STORE: must be fs or s3/);
  });

  it('creates and migrates a missing database with migrate, and does nothing the second time', async () => {
    const name = uniqueTestDatabaseName('cli');
    try {
      const env = { IMGSRV_DATABASE_URL: urlForDatabase(name) };
      const first = run(['migrate'], env);
      expect(first.status).toBe(0);
      expect(first.stdout).toMatch(/created the database; applied: /);
      const second = run(['migrate'], env);
      expect(second.status).toBe(0);
      expect(second.stdout.trim()).toBe('nothing to apply');
    } finally {
      await dropDatabase(name);
    }
  });

  it('writes the OpenAPI document without any database or Redis', async () => {
    const out = join(dataDir, 'openapi.json');
    const result = run(['openapi', '--out', out], {
      IMGSRV_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      IMGSRV_REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(result.status).toBe(0);
    const doc = JSON.parse(await readFile(out, 'utf8'));
    expect(doc.info.title).toBe('imgsrv');
    expect(doc.paths['/readyz'].get.operationId).toBe('getReadiness');
  });

  it('serves until SIGTERM, then finishes in-flight work and exits 0', async () => {
    const env = testEnv({ databaseUrl: database.url, dataDir, env: { IMGSRV_LOG_LEVEL: 'info' } });
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

    const urls = await new Promise<{ http: string; https: string; tlsCertFile: string }>(
      (resolveUrls, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start line in:\n${stdout}`)), 30_000);
        child.stdout.on('data', () => {
          const line = stdout.split('\n').find((l) => l.includes('"imgsrv is running"'));
          if (line) {
            clearTimeout(timer);
            resolveUrls(JSON.parse(line));
          }
        });
      },
    );
    // Not a terminal: the certificate's path is in the JSON start line, not a line of its own.
    expect(urls.tlsCertFile).toMatch(/self-signed\.crt$/);
    expect(stdout).not.toMatch(/TLS certificate:/);
    expect((await fetch(`${urls.http}/healthz`)).status).toBe(200);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/"msg":"stopped"/);
  });
});
