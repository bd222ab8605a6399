import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bearer } from '../support/auth';
import { testEnv } from '../support/test-app';
import { dropDatabase, uniqueTestDatabaseName, urlForDatabase } from '../support/test-database';
import { waitUntil } from '../support/waiting';

const MAIN = resolve(__dirname, '../../dist/main.js');
/** What fits on one screen of a terminal. */
const ONE_SCREEN = 24;

/**
 * A first start as an operator makes it: a database that does not exist yet, an empty data
 * directory, no IMGSRV_BOOTSTRAP_TOKEN, default log level and format, stdout collected by
 * something that is not a terminal (as a log collector reads it).
 */
describe('a fresh start', () => {
  let dataDir: string;
  let databaseName: string;
  let child: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    if (!existsSync(MAIN))
      throw new Error('dist/main.js is missing: npm test builds it first (npm run build)');
    dataDir = await mkdtemp(join(tmpdir(), 'imgsrv-fresh-'));
    databaseName = uniqueTestDatabaseName('fresh');
    const {
      IMGSRV_BOOTSTRAP_TOKEN: _token,
      IMGSRV_LOG_LEVEL: _level,
      ...env
    } = testEnv({ databaseUrl: urlForDatabase(databaseName), dataDir });
    child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitUntil(
      async () => output,
      (text) => text.includes('imgsrv is running'),
      60_000,
    );
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await dropDatabase(databaseName).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });

  const lines = () => output.split('\n').filter((l) => l.trim() !== '');
  const running = () =>
    JSON.parse(lines().find((l) => l.includes('imgsrv is running')) as string) as {
      http: string;
    };

  it('writes the bootstrap token to a file only its user can read, and the token works', async () => {
    const file = join(dataDir, 'bootstrap-token');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = (await readFile(file, 'utf8')).trim();
    expect(token).toMatch(/^imgsrv_/);
    const whoami = await fetch(`${running().http}/v1/auth/whoami`, { headers: bearer(token) });
    expect(whoami.status).toBe(200);
    expect(((await whoami.json()) as { principal: { display_name: string } }).principal).toEqual(
      expect.objectContaining({ display_name: 'bootstrap' }),
    );
  });

  it('never prints the bootstrap token, and says where it is', async () => {
    const token = (await readFile(join(dataDir, 'bootstrap-token'), 'utf8')).trim();
    // The secret is base64url and may itself hold '_': take it by position, not by the last '_'.
    const [, id, secret] = /^imgsrv_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/.exec(token) ?? [];
    expect(id).toBeDefined();
    expect(secret).toHaveLength(43);
    expect(lines().filter((l) => l.includes(token) || l.includes(secret))).toEqual([]);
    const bootstrapped = lines().find((l) => l.includes('bootstrapped an auth-manager'));
    expect(JSON.parse(bootstrapped as string)).toMatchObject({
      tokenFile: join(dataDir, 'bootstrap-token'),
    });
  });

  it('logs JSON lines to a collector, and fits on one screen', () => {
    for (const line of lines()) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines().some((l) => l.includes('Mapped {'))).toBe(false);
    expect(lines().length).toBeLessThanOrEqual(ONE_SCREEN);
  });
});
