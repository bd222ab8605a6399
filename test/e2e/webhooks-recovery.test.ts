import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { bearer, issueIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';
import { startDedicatedRedis, type DedicatedRedis } from '../support/processes';
import { composeDraft } from '../support/publish';
import { sql } from '../support/sql';
import { eventually } from '../support/waiting';
import { startTestApp, testEnv, type TestApp } from '../support/test-app';
import {
  createWebhook,
  startReceiver,
  verify,
  waitForDeliveries,
  type Receiver,
} from '../support/webhooks';

const MAIN = resolve(__dirname, '../../dist/main.js');

/** Short leases and sweeps, so recovery happens within a second or two. */
const FAST = {
  IMGSRV_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
  IMGSRV_WEBHOOK_LEASE: '1500ms',
  IMGSRV_WEBHOOK_SWEEP_INTERVAL: '300ms',
  IMGSRV_WEBHOOK_BACKOFF_BASE: '100ms',
  IMGSRV_WEBHOOK_BACKOFF_CAP: '400ms',
  // Long enough that the held request is still in flight when the worker is killed.
  IMGSRV_WEBHOOK_TIMEOUT: '60s',
};

async function aliasTargets(app: TestApp, w: Record<string, string>, image: string, n: number) {
  for (let v = 1; v <= n; v++) {
    await composeDraft(app, w, image, String(v), []);
    await markPublished(app, image, String(v));
  }
}

async function moveAlias(app: TestApp, w: Record<string, string>, image: string, v: string) {
  const res = await api(app, 'PUT', `/v1/images/${image}/aliases/latest`, w, { version: v });
  if (res.status !== 200) throw new Error(`alias PUT answered ${res.status}`);
}

interface WorkerProcess {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

/**
 * A webhook worker (`node dist/main.js serve`, IMGSRV_ROLES=worker, a separate process on the
 * same database and Redis prefix) is killed with SIGKILL while its delivery is in flight (the
 * receiver holds the request unanswered); another worker process takes the delivery over once
 * the lease expired and sends it again: at least once.
 */
describe('a webhook worker killed in the middle of a delivery', () => {
  let app: TestApp;
  let receiver: Receiver;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(MAIN))
      throw new Error('dist/main.js is missing: npm test builds it first (npm run build)');
    [app, receiver] = await Promise.all([
      startTestApp({ env: { ...FAST, IMGSRV_ROLES: 'api' } }),
      startReceiver(),
    ]);
  });
  afterAll(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
      await w.exited;
    }
    await receiver?.close();
    await app?.close();
  });

  function startWorker(): WorkerProcess {
    const env = testEnv({
      databaseUrl: app.database.url,
      dataDir: app.dataDir,
      env: {
        ...FAST,
        IMGSRV_ROLES: 'worker',
        IMGSRV_REDIS_PREFIX: app.config.redis.prefix,
        IMGSRV_BOOTSTRAP_TOKEN: app.bootstrapToken,
        IMGSRV_LOG_LEVEL: 'debug',
      },
    });
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const worker = { child, output: () => out, exited };
    workers.push(worker);
    return worker;
  }

  const deliveryRow = async (webhookId: string) =>
    (
      await sql(
        app.database.url,
        `SELECT id, state, lease_owner, attempt_count FROM webhook_delivery WHERE subscription_id = $1`,
        [webhookId],
      )
    )[0];

  it('is replaced by another worker process, which sends the event again', async () => {
    const admin = bearer(app.bootstrapToken);
    const w = (await issueIdentity(app, 'content-writer')).headers;
    // The first request is held unanswered: the delivery stays in flight until the kill.
    receiver.answer((_got, i) => (i === 0 ? 'hold' : 204));
    const hook = await createWebhook(app, admin, receiver.url, ['alias.moved']);
    const first = startWorker();
    await aliasTargets(app, w, 'killed', 1);
    await moveAlias(app, w, 'killed', '1');

    const running = await eventually(
      'the first worker to send the delivery',
      async () => {
        const row = await deliveryRow(hook.id);
        return receiver.received.length === 1 &&
          row?.state === 'running' &&
          String(row.lease_owner).includes(`:${first.child.pid}:`)
          ? row
          : undefined;
      },
      { attempts: 600, intervalMs: 50 },
    );
    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    // Nothing was recorded: the delivery is still leased to the dead worker.
    expect(await deliveryRow(hook.id)).toMatchObject({
      state: 'running',
      lease_owner: running.lease_owner,
      attempt_count: 1,
    });

    const second = startWorker();
    const [delivery] = await waitForDeliveries(app, admin, hook.id, 1);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2, response_code: 204 });
    expect(second.output()).toContain('took over an expired webhook delivery lease');
    // The same event twice, with the same webhook-id: receivers deduplicate by it.
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received.map((got) => got.headers['webhook-id'])).toEqual([
      delivery.event.id,
      delivery.event.id,
    ]);
    for (const got of receiver.received) verify(hook.secret, got);
  });
});

describe('webhooks when Redis loses every wake-up', () => {
  let redis: DedicatedRedis;
  let apiApp: TestApp;
  let worker: TestApp | undefined;
  let receiver: Receiver;

  beforeAll(async () => {
    // Our own redis-server: FLUSHALL on the machine's Redis would hit other test files.
    redis = await startDedicatedRedis();
    [apiApp, receiver] = await Promise.all([
      startTestApp({ env: { ...FAST, IMGSRV_REDIS_URL: redis.url, IMGSRV_ROLES: 'api' } }),
      startReceiver(),
    ]);
  });
  afterAll(async () => {
    await worker?.close();
    await apiApp?.close();
    await receiver?.close();
    await redis?.stop();
  });

  it('finds every delivery again in PostgreSQL after FLUSHALL, and sends each event once, in order', async () => {
    const admin = bearer(apiApp.bootstrapToken);
    const w = (await issueIdentity(apiApp, 'content-writer')).headers;
    const hook = await createWebhook(apiApp, admin, receiver.url, ['alias.moved', 'alias.deleted']);
    await aliasTargets(apiApp, w, 'flushed', 3);
    await aliasTargets(apiApp, w, 'also-flushed', 1);
    for (const v of ['1', '2', '3']) await moveAlias(apiApp, w, 'flushed', v);
    await moveAlias(apiApp, w, 'also-flushed', '1');
    expect((await api(apiApp, 'DELETE', '/v1/images/flushed/aliases/latest', w)).status).toBe(204);

    // The API process enqueued a wake-up per delivery; no worker runs yet. Then Redis loses all.
    const rows = await sql(
      apiApp.database.url,
      `SELECT id, event_id FROM webhook_delivery WHERE subscription_id = $1`,
      [hook.id],
    );
    expect(rows).toHaveLength(5);
    const prefix = apiApp.config.redis.prefix;
    for (const row of rows)
      expect(await redis.cli('EXISTS', `${prefix}:webhook:${row.event_id}_new`)).toBe('1');
    expect(await redis.cli('FLUSHALL')).toBe('OK');
    expect(await redis.cli('DBSIZE')).toBe('0');

    // A worker on the same database and Redis prefix: only its sweeper, reading PostgreSQL,
    // can tell it about the deliveries.
    worker = await startTestApp({
      database: apiApp.database,
      env: {
        ...FAST,
        IMGSRV_REDIS_URL: redis.url,
        IMGSRV_REDIS_PREFIX: prefix,
        IMGSRV_DATA_DIR: apiApp.dataDir,
        IMGSRV_ROLES: 'worker',
      },
    });
    const deliveries = await waitForDeliveries(apiApp, admin, hook.id, 5);
    expect(deliveries.map((d) => [d.status, d.attempts])).toEqual(
      Array.from({ length: 5 }, () => ['succeeded', 1]),
    );
    expect(worker.logs.text()).toContain('swept webhook deliveries');
    const got = receiver.received.map((r) => verify(hook.secret, r) as Record<string, any>);
    expect(new Set(got.map((g) => g.id)).size).toBe(5);
    expect(
      got.filter((g) => g.data.image === 'flushed').map((g) => `${g.type} ${g.data.version}`),
    ).toEqual(['alias.moved 1', 'alias.moved 2', 'alias.moved 3', 'alias.deleted 3']);
  });
});
