import type { Env } from '../../src/config/app-config';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { makeFixtureDir, removeFixtureDir, type FixtureFile } from '../support/fixtures';
import { runMain } from '../support/main-process';
import { metric } from '../support/processes';
import { sql } from '../support/sql';
import { composeDraft, debianContainerBuild, publishPath, waitForJob } from '../support/publish';
import { startTestApp, testEnv, type TestApp } from '../support/test-app';
import { eventually } from '../support/waiting';
import { formatBinaryBytes } from '../../src/common/text';

const hex = (f: FixtureFile) => f.sha256.slice('sha256:'.length);

interface Build {
  readonly meta: FixtureFile;
  readonly root: FixtureFile;
}

/** The streams document's item paths, as a fresh client reads them. */
async function itemPaths(app: TestApp): Promise<string[]> {
  const res = await app.fetch('/streams/v1/images.json');
  expect(res.status).toBe(200);
  const doc = (await res.json()) as {
    products: Record<
      string,
      { versions: Record<string, { items: Record<string, { path: string }> }> }
    >;
  };
  return Object.values(doc.products).flatMap((p) =>
    Object.values(p.versions).flatMap((v) => Object.values(v.items).map((i) => i.path)),
  );
}

describe('withdrawing published versions', () => {
  let fixtures: string;
  const builds: Record<string, Build> = {};

  const build = (serial: string, seed: number): Promise<Build> =>
    debianContainerBuild(fixtures, serial, seed);

  /** Each listed image's name and storage, as `headers` sees GET /v1/images. */
  const listedStorage = async (app: TestApp, headers: Record<string, string> = {}) =>
    (
      (await api(app, 'GET', '/v1/images', headers)).body.images as {
        name: string;
        storage: unknown;
      }[]
    ).map((i) => [i.name, i.storage]);

  async function publish(
    app: TestApp,
    writer: Record<string, string>,
    version: string,
    b: Build,
  ): Promise<void> {
    await composeDraft(app, writer, 'debian', version, [
      { format: 'squashfs', root: b.root, metadata: b.meta, architecture: 'x86_64' },
    ]);
    const job = await api(app, 'POST', publishPath('debian', version), writer);
    await waitForJob(app, writer, job.body.id, 'succeeded');
  }

  const rootPath = (version: string) =>
    `/streams/v1/items/${hex(builds[version].root)}/debian-${version}-amd64.squashfs`;
  const withdraw = (
    app: TestApp,
    headers: Record<string, string>,
    version: string,
    body: Record<string, unknown>,
  ) => api(app, 'POST', `/v1/images/debian/versions/${version}/withdraw`, headers, body);

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    builds['1'] = await build('20261201_01:00', 31);
    builds['2'] = await build('20261202_01:00', 32);
    builds['3'] = await build('20261203_01:00', 33);
    // Version 4 ships version 3's root again (a rebuild that changed only its metadata).
    builds['4'] = { meta: (await build('20261204_01:00', 34)).meta, root: builds['3'].root };
  }, 120_000);
  afterAll(async () => {
    if (fixtures) await removeFixtureDir(fixtures);
  });

  describe('within the grace', () => {
    let app: TestApp;
    let writer: Record<string, string>;

    beforeAll(async () => {
      app = await startTestApp({ env: { IMGSRV_WITHDRAW_GRACE: '1h' } });
      writer = (await issueIdentity(app, 'content-writer')).headers;
      for (const v of ['1', '2', '3']) await publish(app, writer, v, builds[v]);
      await composeDraft(app, writer, 'debian', 'draft', []);
      expect(
        (await api(app, 'PUT', '/v1/images/debian/aliases/latest', writer, { version: '3' }))
          .status,
      ).toBe(200);
    }, 300_000);
    afterAll(() => app?.close());

    it('refuses while an alias points at the version, naming it, and changes nothing', async () => {
      const refused = await withdraw(app, writer, '3', { reason: 'broken kernel' });
      expect(refused.status).toBe(409);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(refused.body).toMatchObject({ code: 'VERSION_ALIASED', aliases: ['latest'] });
      expect(
        (await api(app, 'GET', '/v1/images/debian/versions/3', writer)).body.version.state,
      ).toBe('published');
      expect(await itemPaths(app)).toContain(rootPath('3').slice(1));
    });

    it('moves the aliases in the same transaction, and the version leaves the documents at once', async () => {
      const done = await withdraw(app, writer, '3', {
        reason: 'broken kernel',
        move_aliases_to: '2',
      });
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({
        version: '3',
        state: 'withdrawn',
        withdrawal: { reason: 'broken kernel', immediate: false, purged_at: null },
      });
      const purgeAfter = Date.parse(done.body.withdrawal.purge_after);
      expect(purgeAfter - Date.parse(done.body.withdrawn_at)).toBe(3_600_000);
      expect((await api(app, 'GET', '/v1/images/debian/aliases/latest')).body.version).toBe('2');
      const paths = await itemPaths(app);
      expect(paths).not.toContain(rootPath('3').slice(1));
      expect(paths).toContain(rootPath('2').slice(1));
      const index = await (await app.fetch('/streams/v1/index.json')).json();
      expect(JSON.stringify(index)).not.toContain('20261203_01:00');

      // Hosts that read the documents just before still download it, within the grace.
      const res = await app.fetch(rootPath('3'));
      expect(res.status).toBe(200);
      await res.arrayBuffer();

      // The record stays: the version, its manifest, and the audit log.
      const read = await api(app, 'GET', '/v1/images/debian/versions/3', writer);
      expect(read.body.version.state).toBe('withdrawn');
      expect(read.body.artifacts).toHaveLength(1);
      const listed = await api(app, 'GET', '/v1/images/debian/versions?state=withdrawn', writer);
      expect(listed.body.versions.map((v: { version: string }) => v.version)).toEqual(['3']);
      const auditor = (await issueIdentity(app, 'auth-manager')).headers;
      const audit = await api(app, 'GET', '/v1/audit-events?image=debian', auditor);
      const actions = (audit.body.audit_events as { action: string }[]).map((e) => e.action);
      expect(actions).toEqual(expect.arrayContaining(['version.withdraw', 'alias.move']));
    });

    it('answers a repeat with the withdrawn version, unchanged', async () => {
      const before = await api(app, 'GET', '/v1/images/debian/versions/3', writer);
      const again = await withdraw(app, writer, '3', { reason: 'another reason' });
      expect(again.status).toBe(200);
      expect(again.body.withdrawal.reason).toBe('broken kernel');
      expect(again.body.updated_at).toBe(before.body.version.updated_at);
    });

    it('stops downloads at once for an immediate withdrawal, with 410 problem+json', async () => {
      const done = await withdraw(app, writer, '1', { reason: 'CVE-2026-0001', immediate: true });
      expect(done.status).toBe(200);
      expect(done.body.withdrawal).toMatchObject({ immediate: true });
      const res = await app.fetch(rootPath('1'));
      expect(res.status).toBe(410);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(((await res.json()) as { code: string }).code).toBe('VERSION_WITHDRAWN');
      const manifest = await api(app, 'GET', '/v1/images/debian/versions/1', writer);
      const artifactId = manifest.body.artifacts[0].artifact.id;
      const viaApi = await app.fetch(
        `/v1/images/debian/versions/1/artifacts/${artifactId}/download`,
        { headers: writer },
      );
      expect(viaApi.status).toBe(410);
      expect(((await viaApi.json()) as { code: string }).code).toBe('VERSION_WITHDRAWN');
    });

    it('withdraws only published versions, for callers who may publish, with a reason', async () => {
      expect((await withdraw(app, writer, 'draft', { reason: 'x' })).body.code).toBe(
        'VERSION_NOT_PUBLISHED',
      );
      expect((await withdraw(app, writer, 'nope', { reason: 'x' })).status).toBe(404);
      expect((await withdraw(app, writer, '2', {})).status).toBe(400);
      expect((await withdraw(app, writer, '2', { reason: '' })).status).toBe(400);
      expect((await withdraw(app, writer, '2', { reason: 'x', immediate: 'yes' })).status).toBe(
        400,
      );
      const reader = (await issueIdentity(app, 'reader')).headers;
      expect((await withdraw(app, reader, '2', { reason: 'x' })).status).toBe(403);
      expect((await withdraw(app, {}, '2', { reason: 'x' })).status).toBe(401);
      const elsewhere = (await issueIdentity(app, 'release-manager', ['ubuntu-*'])).headers;
      expect([403, 404]).toContain((await withdraw(app, elsewhere, '2', { reason: 'x' })).status);
      // The alias target must be a published version of the same image, not the one withdrawn.
      for (const target of ['3', 'draft', '2'])
        expect(
          (await withdraw(app, writer, '2', { reason: 'x', move_aliases_to: target })).status,
        ).toBe(409);
      expect(
        (await api(app, 'GET', '/v1/images/debian/versions/2', writer)).body.version.state,
      ).toBe('published');
    });
  });

  describe('after the grace', () => {
    let app: TestApp;
    let writer: Record<string, string>;

    beforeAll(async () => {
      app = await startTestApp({
        env: { IMGSRV_WITHDRAW_GRACE: '1s', IMGSRV_PURGE_INTERVAL: '200ms' },
      });
      writer = (await issueIdentity(app, 'content-writer')).headers;
      await publish(app, writer, '3', builds['3']);
      await publish(app, writer, '4', builds['4']);
      // Another image ships version 4's files: they are shared between images.
      await composeDraft(app, writer, 'mirror', '1', [
        { format: 'squashfs', root: builds['4'].root, metadata: builds['4'].meta },
      ]);
    }, 300_000);
    afterAll(() => app?.close());

    it('purges the version: 410 for what only it shipped, its blobs left to the GC, shared ones kept', async () => {
      const [meta3, root, meta4] = [
        builds['3'].meta.size,
        builds['3'].root.size,
        builds['4'].meta.size,
      ];
      const storage = async (image: string) =>
        (await api(app, 'GET', `/v1/images/${image}`, writer)).body.storage;
      expect(await storage('debian')).toEqual({ bytes: meta3 + root + meta4, bytes_unique: meta3 });
      expect(await storage('mirror')).toEqual({ bytes: root + meta4, bytes_unique: 0 });
      expect((await api(app, 'GET', '/v1/storage', writer)).body).toEqual({
        bytes: meta3 + root + meta4,
        bytes_unique_by_image: { debian: meta3, mirror: 0 },
      });
      expect(await listedStorage(app, writer)).toEqual([
        ['debian', { bytes: meta3 + root + meta4, bytes_unique: meta3 }],
        ['mirror', { bytes: root + meta4, bytes_unique: 0 }],
      ]);
      expect(await metric(app, 'imgsrv_storage_cited_bytes')).toBe(meta3 + root + meta4);
      expect(await metric(app, 'imgsrv_image_storage_bytes{image="debian",kind="unique"}')).toBe(
        meta3,
      );
      expect(await metric(app, 'imgsrv_image_storage_bytes{image="mirror",kind="cited"}')).toBe(
        root + meta4,
      );
      const outsider = (await issueIdentity(app, 'reader', ['mirror'])).headers;
      expect((await api(app, 'GET', '/v1/storage', outsider)).body).toEqual({
        bytes: root + meta4,
        bytes_unique_by_image: { mirror: 0 },
      });

      const done = await withdraw(app, writer, '3', { reason: 'superseded' });
      expect(done.status).toBe(200);
      const purged = await eventually('the purge', async () => {
        const v = await api(app, 'GET', '/v1/images/debian/versions/3', writer);
        return v.body.version.withdrawal.purged_at ?? undefined;
      });
      expect(Date.parse(purged)).toBeGreaterThanOrEqual(
        Date.parse(done.body.withdrawal.purge_after),
      );

      // Version 3's metadata was its own: gone. Its root is version 4's too: still served.
      const ownMeta = await app.fetch(`/streams/v1/items/${hex(builds['3'].meta)}/incus.tar.xz`);
      expect(ownMeta.status).toBe(410);
      const shared = await app.fetch(rootPath('3').replace('debian-3', 'debian-4'));
      expect(shared.status).toBe(200);
      await shared.arrayBuffer();

      // A purged version cites nothing: the image's storage no longer counts its own bytes.
      expect(await storage('debian')).toEqual({ bytes: root + meta4, bytes_unique: 0 });

      // The GC, with no grace of its own, would now collect only what the purged version alone cited.
      const gc = await runMain(
        ['gc', '--dry-run', '--json'],
        mainEnv(app, { IMGSRV_CAS_GC_GRACE: '0s' }),
      );
      expect(gc.status).toBe(0);
      const garbage = (JSON.parse(gc.stdout).blobs as { digest: string }[]).map((b) => b.digest);
      expect(garbage).toContain(builds['3'].meta.sha256);
      expect(garbage).not.toContain(builds['3'].root.sha256);
      expect(garbage).not.toContain(builds['4'].meta.sha256);

      // And collects it: a run marks, a run after the mark delay deletes the row and the bytes.
      const gcEnv = mainEnv(app, { IMGSRV_CAS_GC_GRACE: '0s', IMGSRV_CAS_GC_DELETE_DELAY: '0s' });
      expect((await runMain(['gc', '--json'], gcEnv)).status).toBe(0);
      await sql(
        app.database.url,
        `UPDATE cas_blob_gc_mark SET marked_at = now() - interval '10 minutes'`,
      );
      const collected = await runMain(['gc', '--json'], gcEnv);
      expect(collected.status).toBe(0);
      expect(JSON.parse(collected.stdout)).toMatchObject({ blobs_deleted: 1, objects_deleted: 1 });
      const kept = await sql<{ digest: string }>(
        app.database.url,
        `SELECT digest FROM cas_blob WHERE digest = ANY($1::text[]) ORDER BY digest`,
        [[builds['3'].meta.sha256, builds['3'].root.sha256, builds['4'].meta.sha256]],
      );
      expect(kept.map((r) => r.digest).sort()).toEqual(
        [builds['3'].root.sha256, builds['4'].meta.sha256].sort(),
      );
      const stillServed = await app.fetch(rootPath('3').replace('debian-3', 'debian-4'));
      expect(stillServed.status).toBe(200);
      expect(Buffer.from(await stillServed.arrayBuffer()).length).toBe(root);
    });

    it('shows a caller who sees only published versions what those alone cite', async () => {
      const [root, meta4] = [builds['3'].root.size, builds['4'].meta.size];
      const [meta1, root1] = [builds['1'].meta.size, builds['1'].root.size];
      // A draft of debian with bytes of its own: readers of debian count them, nobody else.
      await composeDraft(app, writer, 'debian', '5', [
        { format: 'squashfs', root: builds['1'].root, metadata: builds['1'].meta },
      ]);
      const storageAs = async (headers: Record<string, string>) =>
        (await api(app, 'GET', '/v1/images/debian', headers)).body.storage;
      expect(await storageAs(writer)).toEqual({
        bytes: root + meta4 + meta1 + root1,
        bytes_unique: meta1 + root1,
      });
      // Only version 4 is published. Mirror's draft cites the same bytes, but a draft is not
      // for these callers to see, nor is whether one shares an image's bytes.
      const published = { bytes: root + meta4, bytes_unique: root + meta4 };
      expect(await storageAs({})).toEqual(published);
      // A reader of mirror sees debian as published, and mirror's draft in full: it shares them.
      const mirrorReader = (await issueIdentity(app, 'reader', ['mirror'])).headers;
      const sharedWithMirror = { bytes: root + meta4, bytes_unique: 0 };
      expect(await storageAs(mirrorReader)).toEqual(sharedWithMirror);
      expect((await api(app, 'GET', '/v1/storage', mirrorReader)).body).toEqual({
        bytes: root + meta4,
        bytes_unique_by_image: { mirror: 0 },
      });
      // With public reads off, debian is not theirs to see at all: mirror's bytes are its own.
      const closed = await startTestApp({
        database: app.database,
        env: { IMGSRV_PUBLIC_READ: 'false' },
      });
      try {
        const mirrorSeen = await api(closed, 'GET', '/v1/images/mirror', mirrorReader);
        expect(mirrorSeen.body.storage).toEqual({
          bytes: root + meta4,
          bytes_unique: root + meta4,
        });
        expect((await api(closed, 'GET', '/v1/storage', mirrorReader)).body).toEqual({
          bytes: root + meta4,
          bytes_unique_by_image: { mirror: root + meta4 },
        });
      } finally {
        await closed.close();
      }
      // A reader of debian alone sees all of debian's versions, but of mirror (outside its
      // scope) only what is published: nothing, so debian's bytes are its own.
      const debianReader = (await issueIdentity(app, 'reader', ['debian'])).headers;
      const debianAll = root + meta4 + meta1 + root1;
      expect(await storageAs(debianReader)).toEqual({ bytes: debianAll, bytes_unique: debianAll });
      expect((await api(app, 'GET', '/v1/storage', debianReader)).body).toEqual({
        bytes: debianAll,
        bytes_unique_by_image: { debian: debianAll },
      });
      expect(await listedStorage(app)).toEqual([['debian', published]]);
      // In a list, each image as the caller sees it: mirror is theirs to read in full.
      expect(await listedStorage(app, mirrorReader)).toEqual([
        ['debian', sharedWithMirror],
        ['mirror', { bytes: root + meta4, bytes_unique: 0 }],
      ]);
      // The web catalog's image page says the same.
      const page = await (await app.fetch('/ui/images/debian')).text();
      expect(page).toContain(
        `${formatBinaryBytes(root + meta4)} cited, ${formatBinaryBytes(root + meta4)} of it`,
      );
    });

    it('deletes an image only once every version is a draft or withdrawn', async () => {
      const refused = await api(app, 'DELETE', '/v1/images/debian', writer);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ code: 'IMAGE_NOT_EMPTY', versions: { published: 1 } });
      expect((await withdraw(app, writer, '4', { reason: 'end of life' })).status).toBe(200);
      const reader = (await issueIdentity(app, 'reader')).headers;
      expect((await api(app, 'DELETE', '/v1/images/debian', reader)).status).toBe(403);
      expect((await api(app, 'DELETE', '/v1/images/debian', writer)).status).toBe(204);
      expect((await api(app, 'GET', '/v1/images/debian', writer)).status).toBe(404);
      expect((await api(app, 'DELETE', '/v1/images/debian', writer)).status).toBe(404);
      // An image with only a draft goes too; the bytes stay for the GC to decide.
      expect((await api(app, 'DELETE', '/v1/images/mirror', writer)).status).toBe(204);
      expect((await api(app, 'GET', '/v1/storage', writer)).body).toEqual({
        bytes: 0,
        bytes_unique_by_image: {},
      });
      // Its name is free again.
      expect((await api(app, 'POST', '/v1/images', writer, { name: 'debian' })).status).toBe(201);
    });
  });
});

/** The environment the app under test serves with, as an operator runs its commands. */
function mainEnv(app: TestApp, extra: Env = {}): Env {
  const { IMGSRV_LOG_LEVEL: _level, ...env } = testEnv({
    databaseUrl: app.database.url,
    dataDir: app.dataDir,
    env: { IMGSRV_REDIS_PREFIX: app.config.redis.prefix, ...extra },
  });
  return env;
}
