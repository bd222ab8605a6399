import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { makeFixtureDir, removeFixtureDir } from '../support/fixtures';
import { MAIN } from '../support/main-process';
import { syncAndWait, waitForSync } from '../support/mirror';
import { startNginx, type Nginx } from '../support/nginx';
import { sql } from '../support/sql';
import { startTestApp, testEnv, type TestApp } from '../support/test-app';
import { writeLxcCiTree, type GeneratedTree, type UpstreamImage } from '../support/upstream-tree';

const MIB = 1024 * 1024;

const image = (os: string, over: Partial<UpstreamImage> = {}): UpstreamImage => ({
  os,
  release: '1',
  arch: 'amd64',
  variant: 'default',
  serial: '20261201_05:24',
  container: true,
  vm: false,
  aliases: [`${os}/1`],
  ...over,
});

describe('mirroring when the upstream misbehaves', () => {
  let app: TestApp;
  let fixtures: string;
  let work: string;
  let cert: string;
  let caPem: string;
  let manager: Record<string, string>;
  const servers: Nginx[] = [];

  const serve = async (root: string, serverDirectives?: string) => {
    const n = await startNginx({
      root,
      workDir: work,
      certFile: cert,
      keyFile: cert.replace(/\.crt$/, '.key'),
      serverDirectives,
    });
    servers.push(n);
    return n;
  };

  /**
   * An HTTPS upstream serving `tree` itself, so a test can answer some requests its own way:
   * `intercept` answers a path (and returns true) or leaves it to the tree.
   */
  const scriptedUpstream = async (
    tree: string,
    intercept: (path: string, res: ServerResponse) => boolean | Promise<boolean>,
  ) => {
    const server: Server = createServer(
      { cert: await readFile(cert), key: await readFile(cert.replace(/\.crt$/, '.key')) },
      async (req, res) => {
        const path = normalize(
          decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname),
        ).slice(1);
        if (await intercept(path, res)) return;
        try {
          res.end(await readFile(join(tree, path)));
        } catch {
          res.writeHead(404).end();
        }
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => {
        server.closeAllConnections();
        server.close();
      },
    };
  };

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    work = await mkdtemp(join(tmpdir(), 'imgsrv-mirror-faults-'));
    app = await startTestApp({
      env: {
        IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms',
        IMGSRV_MIRROR_SWEEP_INTERVAL: '500ms',
        IMGSRV_MIRROR_IDLE_TIMEOUT: '5s', // a busy machine's late timers are not a stall
        IMGSRV_MIRROR_ATTEMPTS: '2',
        IMGSRV_MIRROR_BACKOFF_BASE: '100ms',
        IMGSRV_MIRROR_PART_SIZE: '5MiB',
      },
    });
    cert = app.server.tlsCertFile as string;
    caPem = await readFile(cert, 'utf8');
    manager = (await issueIdentity(app, 'mirror-manager')).headers;
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) await s.stop();
    await app?.close();
    await rm(work, { recursive: true, force: true });
    await removeFixtureDir(fixtures);
  });

  it('refuses a corrupted file and a missing one, mirrors the rest, and finishes them once upstream is whole', async () => {
    const tree = join(work, 'broken');
    const generated: GeneratedTree = await writeLxcCiTree(tree, fixtures, [
      image('alpha'),
      image('beta', { vm: true }),
      image('gamma'),
    ]);
    const pristine = join(work, 'pristine');
    await cp(tree, pristine, { recursive: true });
    // alpha's root: same size, one byte changed. beta's disk: listed, not there.
    const corrupt = 'images/alpha/1/amd64/default/20261201_05:24/rootfs.squashfs';
    const handle = await open(join(tree, corrupt), 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 100);
    await handle.write(Buffer.from([byte[0] ^ 0xff]), 0, 1, 100);
    await handle.close();
    const missing = 'images/beta/1/amd64/default/20261201_05:24/disk.qcow2';
    await rm(join(tree, missing));
    const upstream = await serve(tree);
    await api(app, 'POST', '/v1/remotes', manager, {
      name: 'broken',
      url: upstream.url,
      ca_pem: caPem,
    });

    const first = await syncAndWait(app, manager, 'broken');
    expect(first.state).toBe('failed');
    expect(first.error).toMatch(/2 item\(s\) failed/);
    const item = (key: string) => first.items.find((i: any) => i.key === key);
    expect(item(corrupt)).toMatchObject({ outcome: 'failed' });
    expect(item(corrupt).error).toMatch(/did not verify|digest|sha256/i);
    expect(item(missing)).toMatchObject({ outcome: 'failed', attempts: 1 });
    expect(item(missing).error).toMatch(/404/);
    expect(item('alpha-1:20261201_05:24')).toMatchObject({ outcome: 'skipped' });
    expect(item('beta-1:20261201_05:24')).toMatchObject({ outcome: 'skipped' });
    expect(item('gamma-1:20261201_05:24')).toMatchObject({ outcome: 'published' });
    // The corrupted bytes are not trusted; the other files of beta are.
    const alphaRoot = generated.files.get(corrupt)!;
    expect(
      (
        await app.fetch(`/v1/blobs/sha256:${alphaRoot.sha256}`, {
          method: 'HEAD',
          headers: manager,
        })
      ).status,
    ).toBe(404);
    expect((await api(app, 'GET', '/v1/images/alpha-1/versions', manager)).status).toBe(404);

    // Upstream is whole again: the next sync fetches only what failed and publishes the rest.
    await rm(tree, { recursive: true });
    await cp(pristine, tree, { recursive: true });
    const second = await syncAndWait(app, manager, 'broken');
    expect(second).toMatchObject({ state: 'succeeded', items_failed: 0, versions_published: 2 });
    const fetched = second.items.filter((i: any) => i.kind === 'file' && i.outcome === 'fetched');
    expect(fetched.map((i: any) => i.key).sort()).toEqual([corrupt, missing].sort());
  }, 180_000);

  it('names a TLS failure when the upstream’s CA is not trusted', async () => {
    const tree = join(work, 'tls');
    await writeLxcCiTree(tree, fixtures, [image('delta')]);
    const upstream = await serve(tree);
    await api(app, 'POST', '/v1/remotes', manager, { name: 'untrusted', url: upstream.url });
    const sync = await syncAndWait(app, manager, 'untrusted');
    expect(sync.state).toBe('failed');
    expect(sync.error).toMatch(/TLS: the upstream's certificate is not trusted .*ca_pem/);
    expect(sync.bytes_fetched).toBe(0);
  }, 60_000);

  it('ends a stalled transfer at the idle limit, tries it again, and fails that file alone', async () => {
    const tree = join(work, 'stall');
    const generated = await writeLxcCiTree(tree, fixtures, [
      image('epsilon', { padBytes: 12 * MIB }),
    ]);
    const root = [...generated.files.values()].find((f) => f.path.endsWith('rootfs.squashfs'))!;
    // An upstream that sends half of the root filesystem, then nothing.
    let stalled = 0;
    const upstream = await scriptedUpstream(tree, async (path, res) => {
      if (path !== root.path) return false;
      stalled += 1;
      res.writeHead(200, { 'content-length': root.size });
      res.write((await readFile(join(tree, path))).subarray(0, root.size / 2));
      return true; // never ends
    });
    try {
      const { url } = upstream;
      await api(app, 'POST', '/v1/remotes', manager, { name: 'stalling', url, ca_pem: caPem });
      const started = Date.now();
      const sync = await syncAndWait(app, manager, 'stalling', 60_000);
      expect(sync.state).toBe('failed');
      const item = sync.items.find((i: any) => i.key === root.path);
      expect(item).toMatchObject({ outcome: 'failed', attempts: 2 });
      expect(item.error).toMatch(/stalled/);
      expect(stalled).toBe(2);
      // Two attempts of a 5 s idle limit, not a hang.
      expect(Date.now() - started).toBeLessThan(45_000);
    } finally {
      upstream.close();
    }
  }, 90_000);

  it('with one transfer at a time, retries a metadata tarball while its root waits for it', async () => {
    // The root's fingerprint continues a hash of its tarball, so the root waits for the tarball to
    // end; it must do so without holding the remote's only transfer slot, which the tarball's
    // second attempt needs. Upstream answers 503 to the tarball's first request.
    const tree = join(work, 'retry-meta');
    const generated = await writeLxcCiTree(tree, fixtures, [
      image('kappa', { padBytes: 6 * MIB }),
      image('lambda', { padBytes: 6 * MIB }),
    ]);
    const tarball = [...generated.files.values()].find(
      (f) => f.path.includes('/kappa/') && f.path.endsWith('incus.tar.xz'),
    )!;
    let refused = 0;
    let inFlight = 0;
    let mostInFlight = 0;
    const upstream = await scriptedUpstream(tree, (path, res) => {
      if (!path.startsWith('streams/')) {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        res.on('close', () => (inFlight -= 1));
      }
      if (path !== tarball.path || refused > 0) return false;
      refused += 1;
      res.writeHead(503).end();
      return true;
    });
    try {
      const { url } = upstream;
      await api(app, 'POST', '/v1/remotes', manager, {
        name: 'one-at-a-time',
        url,
        ca_pem: caPem,
        concurrency: 1,
      });
      const sync = await syncAndWait(app, manager, 'one-at-a-time', 60_000);
      expect(sync).toMatchObject({ state: 'succeeded', items_failed: 0, versions_published: 2 });
      expect(sync.items.find((i: any) => i.key === tarball.path)).toMatchObject({
        outcome: 'fetched',
        attempts: 2,
      });
      expect(refused).toBe(1);
      expect(mostInFlight).toBe(1);
    } finally {
      upstream.close();
    }
  }, 90_000);

  it('keeps a remote within its bandwidth limit', async () => {
    const tree = join(work, 'limited');
    const generated = await writeLxcCiTree(tree, fixtures, [image('theta', { padBytes: 6 * MIB })]);
    const bytes = [...generated.files.values()].reduce((n, f) => n + f.size, 0);
    const upstream = await serve(tree);
    await api(app, 'POST', '/v1/remotes', manager, {
      name: 'limited',
      url: upstream.url,
      ca_pem: caPem,
      bandwidth_limit_bytes_per_second: 2 * MIB,
    });
    const sync = await syncAndWait(app, manager, 'limited');
    expect(sync).toMatchObject({ state: 'succeeded', bytes_fetched: bytes });
    // 6 MiB at 2 MiB/s: about 3 s however fast the machine (the first MiB goes at once).
    const took = Date.parse(sync.finished_at) - Date.parse(sync.started_at);
    expect(took).toBeGreaterThanOrEqual(2_400);
  }, 90_000);

  it('cancels a running sync, and a scheduled sync later continues the file it left', async () => {
    const tree = join(work, 'cancel');
    const generated = await writeLxcCiTree(tree, fixtures, [image('eta', { padBytes: 16 * MIB })]);
    const root = [...generated.files.values()].find((f) => f.path.endsWith('rootfs.squashfs'))!;
    // 2 MiB/s: the file takes about 8 s.
    const upstream = await serve(tree, 'limit_rate 2m;');
    await api(app, 'POST', '/v1/remotes', manager, {
      name: 'cancelled',
      url: upstream.url,
      ca_pem: caPem,
    });
    const started = await api(app, 'POST', '/v1/remotes/cancelled/sync', manager);
    // A second request while it runs answers the same sync.
    const again = await api(app, 'POST', '/v1/remotes/cancelled/sync', manager);
    expect(again.body.id).toBe(started.body.id);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const s = (await api(app, 'GET', `/v1/remotes/cancelled/syncs/${started.body.id}`, manager))
        .body;
      if (s.bytes_fetched >= 6 * MIB) break;
      if (Date.now() > deadline) throw new Error(`no progress: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancel = await api(
      app,
      'POST',
      `/v1/remotes/cancelled/syncs/${started.body.id}/cancel`,
      manager,
    );
    expect(cancel.status).toBe(200);
    expect(cancel.body.cancel_requested).toBe(true);
    const cancelled = await waitForSync(app, manager, 'cancelled', started.body.id, 60_000);
    expect(cancelled).toMatchObject({ state: 'cancelled', error: 'cancelled' });
    expect(cancelled.bytes_fetched).toBeLessThan(root.size);
    const late = await api(
      app,
      'POST',
      `/v1/remotes/cancelled/syncs/${started.body.id}/cancel`,
      manager,
    );
    expect(late.status).toBe(409);

    // The schedule comes due (made due now rather than waiting for the minute).
    const remote = (await api(app, 'GET', '/v1/remotes/cancelled', manager)).body;
    expect(
      (
        await api(app, 'PUT', '/v1/remotes/cancelled', manager, {
          name: 'cancelled',
          url: remote.url,
          ca_pem: caPem,
          schedule: '* * * * *',
        })
      ).status,
    ).toBe(200);
    await sql(
      app.database.url,
      `UPDATE mirror_remote SET next_sync_at = now() WHERE name = 'cancelled'`,
    );
    let scheduled: any;
    const until = Date.now() + 60_000;
    while (!scheduled) {
      const list = (await api(app, 'GET', '/v1/remotes/cancelled/syncs', manager)).body.syncs;
      scheduled = list.find((s: any) => s.trigger === 'schedule');
      if (Date.now() > until) throw new Error('no scheduled sync started');
      await new Promise((r) => setTimeout(r, 200));
    }
    const done = await waitForSync(app, manager, 'cancelled', scheduled.id, 90_000);
    expect(done).toMatchObject({ state: 'succeeded', versions_published: 1 });
    const item = done.items.find((i: any) => i.key === root.path);
    // Whole 5 MiB parts the cancelled sync stored are not fetched again.
    expect(item.bytes_fetched).toBeLessThanOrEqual(root.size - 5 * MIB);
    const next = (await api(app, 'GET', '/v1/remotes/cancelled', manager)).body.next_sync_at;
    expect(new Date(next).getTime()).toBeGreaterThan(Date.now() - 1000);
  }, 180_000);
});

describe('a sync whose worker is killed in the middle of a file', () => {
  let app: TestApp;
  let fixtures: string;
  let work: string;
  let upstream: Nginx;
  let root: { path: string; size: number };
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(MAIN))
      throw new Error('dist/main.js is missing: npm test builds it first (npm run build)');
    fixtures = await makeFixtureDir();
    work = await mkdtemp(join(tmpdir(), 'imgsrv-mirror-kill-'));
    const tree = join(work, 'tree');
    const generated = await writeLxcCiTree(tree, fixtures, [image('zeta', { padBytes: 24 * MIB })]);
    root = [...generated.files.values()].find((f) => f.path.endsWith('rootfs.squashfs'))!;
    app = await startTestApp({ env: { IMGSRV_ROLES: 'api' } });
    const cert = app.server.tlsCertFile as string;
    // 4 MiB/s: the 24 MiB file takes about 6 s, time to kill its worker half way.
    upstream = await startNginx({
      root: tree,
      workDir: work,
      certFile: cert,
      keyFile: cert.replace(/\.crt$/, '.key'),
      serverDirectives: 'limit_rate 4m;',
    });
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await upstream?.stop();
    await app?.close();
    await rm(work, { recursive: true, force: true });
    await removeFixtureDir(fixtures);
  });

  function startWorker(): ChildProcess {
    const env = testEnv({
      databaseUrl: app.database.url,
      dataDir: app.dataDir,
      env: {
        IMGSRV_ROLES: 'worker',
        IMGSRV_REDIS_PREFIX: app.config.redis.prefix,
        IMGSRV_BOOTSTRAP_TOKEN: app.bootstrapToken,
        IMGSRV_MIRROR_LEASE: '3s',
        IMGSRV_MIRROR_SWEEP_INTERVAL: '500ms',
        IMGSRV_MIRROR_PART_SIZE: '5MiB',
        IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms',
      },
    });
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: 'ignore',
    });
    children.push(child);
    return child;
  }

  it('is taken over by the next worker, which resumes the file from the parts already stored', async () => {
    const manager = (await issueIdentity(app, 'mirror-manager')).headers;
    const cert = app.server.tlsCertFile as string;
    await api(app, 'POST', '/v1/remotes', manager, {
      name: 'slow',
      url: upstream.url,
      ca_pem: await readFile(cert, 'utf8'),
    });
    const first = startWorker();
    const started = await api(app, 'POST', '/v1/remotes/slow/sync', manager);
    expect(started.status).toBe(202);
    const syncId = started.body.id;
    // Wait until more than two parts (10 MiB) have arrived, then kill the worker.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const s = (await api(app, 'GET', `/v1/remotes/slow/syncs/${syncId}`, manager)).body;
      if (s.bytes_fetched >= 11 * MIB) break;
      if (Date.now() > deadline) throw new Error(`no progress: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    startWorker();
    const done = await waitForSync(app, manager, 'slow', syncId, 120_000);
    expect(done).toMatchObject({ state: 'succeeded', attempt: 2, versions_published: 1 });
    const item = done.items.find((i: any) => i.key === root.path);
    expect(item.outcome).toBe('fetched');
    // The second worker fetched only what the first had not stored: at least two 5 MiB parts less.
    expect(item.bytes_fetched).toBeLessThanOrEqual(root.size - 10 * MIB);
    expect(item.bytes_fetched).toBeGreaterThan(0);
    const log = await readFile(upstream.accessLog, 'utf8');
    expect(log).toMatch(
      new RegExp(`GET /${root.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} HTTP/1.1" 206 `),
    );
  }, 180_000);
});
