import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { childPidsOf, pidHoldingConnection } from '../support/fds';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { composeDraft, publishPath, waitForJob } from '../support/publish';
import { sql } from '../support/sql';
import { eventually } from '../support/waiting';
import { RawConnection, rawRequest } from '../support/raw-http';
import { startTestApp, testEnv, type TestApp } from '../support/test-app';

const MAIN = resolve(__dirname, '../../dist/main.js');
const IMAGES = '/streams/v1/images.json';

interface Spawned {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

interface Supervisor extends Spawned {
  readonly urls: { http: string; https: string; metrics: string };
}

/**
 * IMGSRV_HTTP_PROCESSES=2: `node dist/main.js serve` becomes a supervisor with two API processes
 * sharing its listeners (node:cluster). An in-process application on the same database, Redis
 * prefix and blob store runs the publish worker; the supervised processes serve the API.
 */
describe('several API processes on one host', () => {
  let app: TestApp;
  let dir: string;
  let w: Record<string, string>;
  let supervisor: Supervisor;
  let fixtures: { disk: FixtureFile; meta: FixtureFile }[];
  const spawned: Spawned[] = [];

  function spawnServe(env: Record<string, string>): Spawned {
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...testEnv({
          databaseUrl: app.database.url,
          dataDir: app.dataDir,
          env: {
            IMGSRV_ROLES: 'api',
            IMGSRV_REDIS_PREFIX: app.config.redis.prefix,
            IMGSRV_BOOTSTRAP_TOKEN: app.bootstrapToken,
            IMGSRV_HTTP_PROCESSES: '2',
            ...env,
          },
        }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
      child.once('exit', (code, signal) => r({ code, signal })),
    );
    const s = { child, output: () => out, exited };
    spawned.push(s);
    return s;
  }

  /** Starts a supervisor and waits for its "imgsrv is running" line, which names its listeners. */
  async function startSupervisor(env: Record<string, string> = {}): Promise<Supervisor> {
    const s = spawnServe(env);
    const running = await eventually('the supervisor to report it is running', async () => {
      if (s.child.exitCode !== null) throw new Error(`serve exited:\n${s.output()}`);
      const line = s
        .output()
        .split('\n')
        .find((l) => l.includes('"imgsrv is running"'));
      return line ? (JSON.parse(line) as Supervisor['urls']) : undefined;
    });
    return { ...s, urls: { http: running.http, https: running.https, metrics: running.metrics } };
  }

  const metricsOf = async (s: Supervisor) => (await fetch(s.urls.metrics)).text();
  const sample = (text: string, name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };

  /**
   * GETs images.json on a new connection (to `base`, the HTTP listener unless given); answers the
   * body and the pid of the API process that served it.
   */
  async function readOnNewConnection(
    s: Supervisor,
    base = s.urls.http,
  ): Promise<{ body: string; pid?: number }> {
    const c = await RawConnection.open(base);
    try {
      await c.write(rawRequest(IMAGES));
      const [answer] = await c.read(['GET']);
      expect(answer.status).toBe(200);
      const pid = pidHoldingConnection(
        Number(new URL(base).port),
        c.localPort,
        childPidsOf(s.child.pid as number),
      );
      return { body: answer.body.toString(), pid };
    } finally {
      c.destroy();
    }
  }

  /** The product aliases of images.json that include `alias` (e.g. "debian-12/latest"). */
  const productWith = (body: string, alias: string): string | undefined => {
    const doc = JSON.parse(body) as { products: Record<string, { aliases: string }> };
    return Object.values(doc.products)
      .map((p) => p.aliases)
      .find((aliases) => aliases.split(',').includes(alias));
  };

  beforeAll(async () => {
    if (!existsSync(MAIN))
      throw new Error('dist/main.js is missing: npm test builds it first (npm run build)');
    dir = await makeFixtureDir();
    app = await startTestApp();
    w = (await issueIdentity(app, 'content-writer')).headers;
    fixtures = await Promise.all(
      ['one', 'two'].map(async (seed) => {
        const [disk, meta] = await Promise.all([
          makeQcow2(dir, { seed: `http-processes-${seed}` }),
          makeIncusMetadata(dir, {
            architecture: 'x86_64',
            os: 'Debian',
            release: 'bookworm',
            variant: seed,
            type: 'virtual-machine',
          }),
        ]);
        return { disk, meta };
      }),
    );
    for (const [i, version] of ['1', '2'].entries()) {
      await composeDraft(app, w, 'debian-12', version, [
        { root: fixtures[i].disk, metadata: fixtures[i].meta },
      ]);
      const accepted = await api(app, 'POST', publishPath('debian-12', version), w);
      await waitForJob(app, w, accepted.body.id, 'succeeded');
    }
    supervisor = await startSupervisor();
  });
  afterAll(async () => {
    for (const s of spawned) {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
      await s.exited;
    }
    await app?.close();
    await removeFixtureDir(dir);
  });

  it('shares its listeners among the processes, which take connections in turn', async () => {
    const children = childPidsOf(supervisor.child.pid as number);
    expect(children).toHaveLength(2);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => readOnNewConnection(supervisor)),
    );
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(new Set(answers.map((a) => a.pid))).toEqual(new Set(children));

    const tls = await Promise.all(
      Array.from({ length: 4 }, () => readOnNewConnection(supervisor, supervisor.urls.https)),
    );
    expect(tls.map((a) => a.body)).toEqual(Array(4).fill(answers[0].body));
    expect(new Set(tls.map((a) => a.pid))).toEqual(new Set(children));
  });

  it('serves one metrics listener that sums its processes', async () => {
    const before = sample(await metricsOf(supervisor), 'imgsrv_streams_fast_path_total') ?? 0;
    await Promise.all(Array.from({ length: 8 }, () => readOnNewConnection(supervisor)));
    const text = await metricsOf(supervisor);
    expect(sample(text, 'imgsrv_streams_fast_path_total')).toBe(before + 8);
    expect(sample(text, 'imgsrv_http_processes')).toBe(2);
    // Gauges read from PostgreSQL count once, not once per process.
    const [{ n }] = await sql(app.database.url, 'SELECT count(*)::int AS n FROM cas_blob');
    expect(n).toBeGreaterThan(0);
    expect(sample(text, 'imgsrv_cas_blobs')).toBe(n);
  });

  it('shows an alias moved through one process on every connection at once', async () => {
    const put = (version: string) =>
      fetch(`${supervisor.urls.http}/v1/images/debian-12/aliases/latest`, {
        method: 'PUT',
        headers: { ...w, 'content-type': 'application/json' },
        body: JSON.stringify({ version }),
      });
    expect([200, 201]).toContain((await put('1')).status);
    for (const version of ['2', '1', '2']) {
      // Both processes have just read the current revision, and would trust it for a while …
      const warm = await Promise.all(
        Array.from({ length: 4 }, () => readOnNewConnection(supervisor)),
      );
      expect(new Set(warm.map((a) => a.pid)).size).toBe(2);
      // … so the other process must hear of the move from the supervisor.
      expect((await put(version)).status).toBe(200);
      const after = await Promise.all(
        Array.from({ length: 4 }, () => readOnNewConnection(supervisor)),
      );
      expect(new Set(after.map((a) => a.pid)).size).toBe(2);
      for (const { body } of after)
        expect(productWith(body, 'debian-12/latest')?.split(',')).toContain(`debian-12/${version}`);
    }
  });

  it('starts a process again when one dies, and keeps serving', async () => {
    const [victim, survivor] = childPidsOf(supervisor.child.pid as number);
    process.kill(victim, 'SIGKILL');
    // Scrapes at once, before the supervisor has heard of the death: asking a dead process for its
    // metrics must cost that process's share of the answer, not the supervisor.
    for (const text of await Promise.all(Array.from({ length: 8 }, () => metricsOf(supervisor))))
      expect(text).toContain('imgsrv_http_processes');
    const replaced = await eventually('the supervisor to start another process', async () => {
      const now = childPidsOf(supervisor.child.pid as number);
      const text = await metricsOf(supervisor);
      return now.length === 2 &&
        !now.includes(victim) &&
        sample(text, 'imgsrv_http_processes') === 2
        ? now
        : undefined;
    });
    expect(replaced).toContain(survivor);
    expect(sample(await metricsOf(supervisor), 'imgsrv_http_process_restarts_total')).toBe(1);
    expect(supervisor.output()).toContain(
      'an API process exited (signal SIGKILL); starting another',
    );
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => readOnNewConnection(supervisor)),
    );
    expect(new Set(answers.map((a) => a.pid))).toEqual(new Set(replaced));
  });

  it('stops every process on SIGTERM and exits 0', async () => {
    const children = childPidsOf(supervisor.child.pid as number);
    supervisor.child.kill('SIGTERM');
    expect(await supervisor.exited).toEqual({ code: 0, signal: null });
    for (const pid of children) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(supervisor.output().match(/"msg":"stopped"/g)).toHaveLength(3);
  });

  it('fails to start, stopping the rest, when a process cannot listen', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const { port } = taken.address() as { port: number };
    try {
      const s = spawnServe({ IMGSRV_LISTEN: `127.0.0.1:${port}` });
      const { code } = await s.exited;
      expect(code).toBe(1);
      expect(s.output()).toContain('EADDRINUSE');
      expect(s.output()).toMatch(/imgsrv: API process \d exited \(code 1\) before it was serving/);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });
});
