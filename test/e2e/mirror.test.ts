import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { cliEnv, runCli } from '../support/cli';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeSquashfs,
  removeFixtureDir,
} from '../support/fixtures';
import { incusList, syncAndWait, type ListedImage } from '../support/mirror';
import { startNginx, type Nginx } from '../support/nginx';
import { sql } from '../support/sql';
import { startTestApp, type TestApp } from '../support/test-app';
import { writeLxcCiTree, type UpstreamImage } from '../support/upstream-tree';

const exec = promisify(execFile);

const PASSWORD = 'upstream-secret-9f3c';

/** lxc-ci's shape: Debian 12 on two architectures, two serials, containers and VMs, a cloud variant. */
function debian(serial: string): UpstreamImage[] {
  const aliases = (variant: string) =>
    variant === 'default'
      ? ['debian/12', 'debian/bookworm']
      : [`debian/12/${variant}`, `debian/bookworm/${variant}`];
  return [
    {
      os: 'debian',
      release: '12',
      arch: 'amd64',
      variant: 'default',
      serial,
      container: true,
      vm: true,
      aliases: aliases('default'),
    },
    {
      os: 'debian',
      release: '12',
      arch: 'arm64',
      variant: 'default',
      serial,
      container: true,
      vm: false,
      aliases: aliases('default'),
    },
    {
      os: 'debian',
      release: '12',
      arch: 'amd64',
      variant: 'cloud',
      serial,
      container: true,
      vm: false,
      aliases: aliases('cloud'),
    },
  ];
}

const ALPINE: UpstreamImage = {
  os: 'alpine',
  release: '3.20',
  arch: 'amd64',
  variant: 'default',
  serial: '20261202_13:00',
  container: true,
  vm: true,
  aliases: ['alpine/3.20', 'alpine/edge'],
};

/**
 * The listing without the names imgsrv adds: one per version (`debian/20261201_05:24`) and the
 * mirror's `latest` of each image (`debian/latest`, `debian/latest/cloud`).
 */
const withoutVersionNames = (list: ListedImage[]) =>
  list.map((i) => ({
    ...i,
    aliases: i.aliases.filter(
      (a) => !/\/\d{8}_\d{2}:\d{2}/.test(a) && !/^debian\/latest(\/|$)/.test(a),
    ),
  }));

describe('mirroring an upstream Simple Streams server', () => {
  let app: TestApp;
  let fixtures: string;
  let work: string;
  let tree: string;
  let nginx: Nginx;
  let cert: string;
  let manager: Record<string, string>;

  const images: readonly UpstreamImage[] = [
    ...debian('20261201_05:24'),
    ...debian('20261202_05:24'),
    ALPINE,
  ];

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    work = await mkdtemp(join(tmpdir(), 'imgsrv-mirror-'));
    tree = join(work, 'tree');
    await writeLxcCiTree(tree, fixtures, images);
    app = await startTestApp({
      env: {
        IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms',
        IMGSRV_MIRROR_SWEEP_INTERVAL: '500ms',
      },
    });
    cert = app.server.tlsCertFile as string;
    const { stdout: hash } = await exec('openssl', ['passwd', '-apr1', PASSWORD]);
    await writeFile(join(work, 'htpasswd'), `mirror:${hash.trim()}\n`);
    nginx = await startNginx({
      root: tree,
      workDir: work,
      certFile: cert,
      keyFile: cert.replace(/\.crt$/, '.key'),
      serverDirectives: `auth_basic "upstream"; auth_basic_user_file ${join(work, 'htpasswd')};`,
    });
    manager = (await issueIdentity(app, 'mirror-manager', ['*'], 'mirror operator')).headers;
  }, 180_000);

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await rm(work, { recursive: true, force: true });
    await removeFixtureDir(fixtures);
  });

  it('keeps remotes with sealed credentials, never answered, and refuses what it cannot use', async () => {
    const reader = (await issueIdentity(app, 'reader')).headers;
    const body = {
      name: 'scratch',
      url: 'https://upstream.example.org/',
      username: 'someone',
      password: PASSWORD,
      filters: { os: 'debian', type: 'vm', alias: 'debian/1*' },
      schedule: '30 4 * * *',
    };
    expect((await api(app, 'POST', '/v1/remotes', reader, body)).status).toBe(403);
    const created = await api(app, 'POST', '/v1/remotes', manager, body);
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain(PASSWORD);
    expect(created.body).toMatchObject({
      name: 'scratch',
      username: 'someone',
      has_password: true,
      image_name_template: '{os}-{release}',
      schedule: '30 4 * * *',
      filters: { os: 'debian', type: 'vm', alias: 'debian/1*' },
    });
    // The next run is the schedule's next 04:30 UTC.
    const next = new Date(created.body.next_sync_at);
    expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([4, 30]);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect((await api(app, 'POST', '/v1/remotes', manager, body)).status).toBe(409);

    // Sealed at rest, and in no audit record.
    const [row] = await sql(
      app.database.url,
      `SELECT password_sealed FROM mirror_remote WHERE name = 'scratch'`,
    );
    expect(row.password_sealed).toMatch(/^v1\./);
    expect(row.password_sealed).not.toContain(PASSWORD);
    const audit = await sql(
      app.database.url,
      `SELECT detail::text AS d FROM audit_event WHERE action LIKE 'remote.%'`,
    );
    expect(audit.length).toBeGreaterThan(0);
    for (const a of audit) expect(a.d).not.toContain(PASSWORD);
    expect(app.logs.text()).not.toContain(PASSWORD);

    // A replace without a password keeps it; null removes it.
    const kept = await api(app, 'PUT', '/v1/remotes/scratch', manager, {
      ...body,
      password: undefined,
    });
    expect(kept.status).toBe(200);
    expect(kept.body.has_password).toBe(true);
    const dropped = await api(app, 'PUT', '/v1/remotes/scratch', manager, {
      ...body,
      password: null,
    });
    expect(dropped.body.has_password).toBe(false);

    const refused = async (change: Record<string, unknown>, pointer: string) => {
      const res = await api(app, 'POST', '/v1/remotes', manager, {
        ...body,
        name: 'bad',
        ...change,
      });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect(JSON.stringify(res.body)).toContain(pointer);
    };
    await refused({ schedule: 'every day' }, '/schedule');
    await refused({ schedule: '61 * * * *' }, '/schedule');
    await refused({ image_name_template: '{os}-{nope}' }, '/image_name_template');
    await refused({ filters: { type: 'lxc' } }, 'type');
    await refused({ url: 'ftp://x.example.org/' }, '/url');
    await refused({ url: 'https://u:p@x.example.org/' }, '/url');
    await refused({ ca_pem: 'not a certificate' }, '/ca_pem');
    await refused({ username: undefined }, '/password');
    await refused({ name: 'Not Valid' }, 'name');

    expect((await api(app, 'DELETE', '/v1/remotes/scratch', manager)).status).toBe(204);
    expect((await api(app, 'GET', '/v1/remotes/scratch', manager)).status).toBe(404);
  });

  it('mirrors the selection so that incus lists what upstream lists, moves nothing again, and follows a new serial', async () => {
    const created = await api(app, 'POST', '/v1/remotes', manager, {
      name: 'lxc',
      url: nginx.url,
      ca_pem: await readFile(cert, 'utf8'),
      username: 'mirror',
      password: PASSWORD,
      filters: { os: 'debian', release: '12' },
      // One release selected: images named like upstream's alias prefix keep the alias names.
      image_name_template: '{os}',
    });
    expect(created.status).toBe(201);

    const first = await syncAndWait(app, manager, 'lxc');
    expect(first).toMatchObject({
      state: 'succeeded',
      error: null,
      items_failed: 0,
      versions_published: 2,
    });
    const files = first.items.filter((i: any) => i.kind === 'file');
    // Per serial: a metadata tarball per product (3), 3 squashfs, 1 qcow2; no delta file.
    expect(files).toHaveLength(14);
    expect(files.every((i: any) => i.outcome === 'fetched')).toBe(true);
    expect(files.some((i: any) => /vcdiff/.test(i.key))).toBe(false);
    const total = files.reduce((n: number, i: any) => n + i.size_bytes, 0);
    expect(first.bytes_fetched).toBe(total);
    expect(first.bytes_total).toBe(total);
    expect(
      first.items.filter((i: any) => i.kind === 'version').map((i: any) => `${i.key} ${i.outcome}`),
    ).toEqual(['debian:20261201_05:24 published', 'debian:20261202_05:24 published']);
    expect(first.aliases_moved).toBe(3);

    // The real incus client: the same images, types, architectures and aliases as upstream
    // lists within the filter (upstream's Alpine is not selected).
    const upstreamDebian = await incusListWithAuth();
    const mirrored = withoutVersionNames(await incusList(app.server.urls.https as string, cert));
    expect(mirrored).toHaveLength(8);
    expect(mirrored.flatMap((i) => i.aliases)).toEqual(
      expect.arrayContaining(['debian/12', 'debian/bookworm', 'debian/12/cloud']),
    );
    expect(mirrored).toEqual(upstreamDebian.filter((i) => !alpineFingerprints.has(i.fingerprint)));
    // Each root was hashed after its metadata tarball as it arrived: the combined fingerprints were
    // recorded before the publish that serves them began, so no publish read a root again.
    const recorded = await sql(
      app.database.url,
      `SELECT f.fingerprint, f.created_at <= j.started_at AS before_publish
         FROM incus_fingerprint f
         JOIN streams_item i ON i.combined_sha256 = f.fingerprint
         JOIN publish_job j ON j.version_id = i.version_id`,
    );
    expect(new Set(recorded.map((r) => r.fingerprint))).toEqual(
      new Set(mirrored.map((i) => i.fingerprint)),
    );
    expect(recorded.every((r) => r.before_publish === true)).toBe(true);

    // Nothing moves the second time: the documents have not changed (conditional reads).
    const second = await syncAndWait(app, manager, 'lxc');
    expect(second).toMatchObject({ state: 'succeeded', bytes_fetched: 0, versions_published: 0 });
    expect(second.error).toMatch(/not changed/);

    // A new serial upstream arrives with the next sync, and the aliases follow it.
    await writeLxcCiTree(tree, fixtures, debian('20261203_05:24'));
    const third = await syncAndWait(app, manager, 'lxc');
    expect(third).toMatchObject({ state: 'succeeded', versions_published: 1, aliases_moved: 3 });
    const refetched = third.items.filter((i: any) => i.kind === 'file' && i.outcome === 'fetched');
    expect(refetched).toHaveLength(7);
    expect(
      third.items.filter((i: any) => i.kind === 'file' && i.outcome === 'present'),
    ).toHaveLength(14);
    const alias = await api(app, 'GET', '/v1/images/debian/aliases/12', manager);
    expect(alias.body.version).toBe('20261203_05:24');
    const latest = await api(app, 'GET', '/v1/images/debian/aliases/latest', manager);
    expect(latest.body.version).toBe('20261203_05:24');
    // Every end was reported as a remote.sync_finished event.
    const events = await sql(
      app.database.url,
      `SELECT data->>'state' AS state, data->>'versions_published' AS published FROM webhook_event
        WHERE type = 'remote.sync_finished' AND data->>'remote' = 'lxc' ORDER BY seq`,
    );
    expect(events.map((e) => `${e.state} ${e.published}`)).toEqual([
      'succeeded 2',
      'succeeded 0',
      'succeeded 1',
    ]);
    const after = withoutVersionNames(await incusList(app.server.urls.https as string, cert));
    const upstreamNow = (await incusListWithAuth()).filter(
      (i) => !alpineFingerprints.has(i.fingerprint),
    );
    expect(after).toEqual(upstreamNow);
    expect(after.filter((i) => i.aliases.includes('debian/12')).length).toBeGreaterThan(0);

    // Metrics and history.
    const metrics = await (await fetch(app.server.urls.metrics as string)).text();
    expect(metrics).toMatch(
      new RegExp(
        `imgsrv_mirror_bytes_fetched_total\\{remote="lxc"\\} ${total + refetchedBytes(third)}`,
      ),
    );
    expect(metrics).toMatch(/imgsrv_mirror_last_success_timestamp_seconds\{remote="lxc"\} 1\d{9}/);
    expect(metrics).toMatch(/imgsrv_mirror_items_total\{remote="lxc",outcome="fetched"\} 21/);
    const history = await api(app, 'GET', '/v1/remotes/lxc/syncs', manager);
    expect(history.body.syncs.map((s: any) => s.state)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    const remote = await api(app, 'GET', '/v1/remotes/lxc', manager);
    expect(remote.body.last_success_at).not.toBeNull();
  }, 300_000);

  it('mirrors a tree the official incus-simplestreams tool wrote', async () => {
    const toolTree = join(work, 'tool-tree');
    await exec('mkdir', ['-p', toolTree]);
    const meta = await makeIncusMetadata(fixtures, {
      architecture: 'x86_64',
      os: 'Fedora',
      release: '41',
      variant: 'default',
      type: 'container',
    });
    const root = await makeSquashfs(fixtures, { seed: 'tool-fedora' });
    await exec('incus-simplestreams', ['add', meta.path, root.path], { cwd: toolTree });
    const served = await startNginx({
      root: toolTree,
      workDir: work,
      certFile: cert,
      keyFile: cert.replace(/\.crt$/, '.key'),
    });
    try {
      expect(
        (
          await api(app, 'POST', '/v1/remotes', manager, {
            name: 'tool',
            url: served.url,
            ca_pem: await readFile(cert, 'utf8'),
          })
        ).status,
      ).toBe(201);
      const sync = await syncAndWait(app, manager, 'tool');
      expect(sync).toMatchObject({ state: 'succeeded', versions_published: 1, items_failed: 0 });
      const upstream = await incusList(served.url, cert);
      const mirrored = (await incusList(app.server.urls.https as string, cert)).filter(
        (i) => i.fingerprint === upstream[0].fingerprint,
      );
      expect(
        mirrored.map(({ fingerprint, type, architecture }) => ({
          fingerprint,
          type,
          architecture,
        })),
      ).toEqual(
        upstream.map(({ fingerprint, type, architecture }) => ({
          fingerprint,
          type,
          architecture,
        })),
      );
    } finally {
      await served.stop();
    }
  }, 120_000);

  it('is driven from the CLI: add, show, sync with progress, list the syncs, remove', async () => {
    const home = await mkdtemp(join(tmpdir(), 'imgsrv-cli-home-'));
    try {
      const token = (await issueIdentity(app, 'mirror-manager', ['*'], 'cli operator')).token;
      const env = { ...cliEnv(home, app, token), IMGSRV_REMOTE_PASSWORD: PASSWORD };
      const added = await runCli(
        [
          'remote',
          'add',
          'arm',
          nginx.url,
          '--filter',
          'os=debian,arch=arm64,type=container',
          '--template',
          '{os}-{arch}',
          '--username',
          'mirror',
          '--source-ca-file',
          cert,
          '--keep-latest',
          '2',
        ],
        env,
      );
      expect(added.stderr).toBe('');
      expect(added.code).toBe(0);
      expect(added.stdout).toMatch(/mirror \(password stored\)/);
      expect(added.stdout + added.stderr).not.toContain(PASSWORD);
      const shown = await runCli(['remote', 'show', 'arm', '--json'], env);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        filters: { os: 'debian', architecture: 'arm64', type: 'container' },
        keep_latest: 2,
        has_password: true,
      });
      expect(shown.stdout).not.toContain(PASSWORD);

      const synced = await runCli(['remote', 'sync', 'arm', '--wait'], env);
      expect(synced.code).toBe(0);
      expect(synced.stderr).toMatch(/sync arm: (running|succeeded), \d+\/\d+ items/);
      // The newest 2 serials of the arm64 product (keep_latest 2).
      expect(synced.stdout).toMatch(
        /sync succeeded: 2 version\(s\) published, 3 alias\(es\) moved/,
      );
      const versions = await api(app, 'GET', '/v1/images/debian-arm64/versions', manager);
      expect(versions.body.versions.map((v: any) => v.version).sort()).toEqual([
        '20261202_05:24',
        '20261203_05:24',
      ]);
      const reader = (await issueIdentity(app, 'reader')).headers;
      const retention = await api(app, 'GET', '/v1/images/debian-arm64/retention', reader);
      expect(retention.body.retention).toMatchObject({ keep_latest: 2 });

      const syncs = await runCli(['remote', 'syncs', 'arm'], env);
      expect(syncs.stdout).toMatch(/succeeded\s+manual/);
      expect((await runCli(['remote', 'ls'], env)).stdout).toMatch(/^arm\s+https:/m);
      expect((await runCli(['remote', 'rm', 'arm'], env)).code).toBe(0);
      expect((await runCli(['remote', 'show', 'arm'], env)).code).toBe(4);
      const usage = await runCli(['remote', 'add', 'x', nginx.url, '--filter', 'image=a'], env);
      expect(usage.code).toBe(2);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 120_000);

  it('makes versions only of the images a scoped mirror-manager may manage', async () => {
    const scoped = (await issueIdentity(app, 'mirror-manager', ['alpine-*'], 'alpine mirror'))
      .headers;
    const created = await api(app, 'POST', '/v1/remotes', scoped, {
      name: 'scoped',
      url: nginx.url,
      ca_pem: await readFile(cert, 'utf8'),
      username: 'mirror',
      password: PASSWORD,
    });
    expect(created.body.image_scope).toEqual(['alpine-*']);
    const sync = await syncAndWait(app, scoped, 'scoped');
    expect(sync).toMatchObject({ state: 'succeeded', versions_published: 1 });
    expect(sync.error).toMatch(
      /3 version\(s\) of images outside the remote's image scope were skipped/,
    );
    const versions = sync.items.filter((i: any) => i.kind === 'version');
    expect(versions.map((i: any) => `${i.key} ${i.outcome}`)).toEqual([
      'alpine-3.20:20261202_13:00 published',
      'debian-12:20261201_05:24 skipped',
      'debian-12:20261202_05:24 skipped',
      'debian-12:20261203_05:24 skipped',
    ]);
    expect(versions[1].error).toMatch(/outside the remote's image scope \(alpine-\*\)/);
    // Only Alpine's files were considered at all.
    const files = sync.items.filter((i: any) => i.kind === 'file');
    expect(files.length).toBeGreaterThan(0);
    expect(files.every((i: any) => i.key.startsWith('images/alpine/'))).toBe(true);
    expect((await api(app, 'GET', '/v1/images/debian-12', manager)).status).toBe(404);
  }, 120_000);

  // ---- helpers over the test's upstream

  const alpineFingerprints = new Set<string>();

  /** The upstream as incus lists it (nginx asks for the password: a second, open nginx serves it). */
  async function incusListWithAuth(): Promise<ListedImage[]> {
    const open = await startNginx({
      root: tree,
      workDir: work,
      certFile: cert,
      keyFile: cert.replace(/\.crt$/, '.key'),
    });
    try {
      const list = await incusList(open.url, cert);
      for (const i of list)
        if (i.aliases.some((a) => a.startsWith('alpine/'))) alpineFingerprints.add(i.fingerprint);
      return list;
    } finally {
      await open.stop();
    }
  }

  function refetchedBytes(sync: any): number {
    return sync.items
      .filter((i: any) => i.kind === 'file' && i.outcome === 'fetched')
      .reduce((n: number, i: any) => n + i.size_bytes, 0);
  }
});
