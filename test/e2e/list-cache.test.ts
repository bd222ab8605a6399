import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { makeFixtureDir, removeFixtureDir, type FixtureFile } from '../support/fixtures';
import { metric } from '../support/processes';
import { debianContainerBuild, publishBuild } from '../support/publish';
import { sql } from '../support/sql';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually } from '../support/waiting';

interface Build {
  readonly meta: FixtureFile;
  readonly root: FixtureFile;
}

type Headers = Record<string, string>;

/**
 * Image, version and alias lists of callers who see only published versions: read once per
 * streams revision and then answered from memory, and every write that changes what such a list
 * shows (publish, withdrawal, alias set, move and delete, an image updated or deleted) showing
 * at once. Callers who may read drafts read the database each time.
 */
describe('public image, version and alias lists kept per streams revision', () => {
  let fixtures: string;
  let app: TestApp;
  let writer: Headers;
  let reader: Headers;
  /** Reads other images' drafts only: for debian it sees what anonymous callers see. */
  let elsewhere: Headers;
  const builds: Build[] = [];

  const reads = async (list: 'images' | 'versions' | 'aliases', source: 'memory' | 'database') =>
    (await metric(app, `imgsrv_list_reads_total{list="${list}",source="${source}"}`)) ?? 0;

  async function listed(
    path: string,
    headers: Headers = {},
    target: TestApp = app,
  ): Promise<{ status: number; body: any }> {
    const res = await target.fetch(path, { headers });
    return { status: res.status, body: await res.json() };
  }

  const versionsOf = async (headers: Headers = {}, query = '') => {
    const res = await listed(`/v1/images/debian/versions${query}`, headers);
    expect(res.status).toBe(200);
    return (res.body.versions as { version: string; state: string }[]).map(
      (v) => `${v.version}:${v.state}`,
    );
  };

  const aliasesOf = async (headers: Headers = {}) => {
    const res = await listed('/v1/images/debian/aliases', headers);
    expect(res.status).toBe(200);
    return (res.body.aliases as { alias: string; version: string }[]).map(
      (a) => `${a.alias}→${a.version}`,
    );
  };

  async function publish(version: string, build: Build): Promise<void> {
    expect(await publishBuild(app, writer, 'debian', version, build)).toBe(202);
  }

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    for (let i = 1; i <= 4; i++)
      builds.push(await debianContainerBuild(fixtures, `2026120${i}_01:00`, 70 + i));
    app = await startTestApp();
    writer = (await issueIdentity(app, 'content-writer')).headers;
    reader = (await issueIdentity(app, 'reader')).headers;
    elsewhere = (await issueIdentity(app, 'reader', ['ubuntu-*'])).headers;
    await publish('1', builds[0]);
  }, 180_000);
  afterAll(async () => {
    await app?.close();
    if (fixtures) await removeFixtureDir(fixtures);
  });

  it('reads a public version list once per revision; readers of drafts read the database', async () => {
    await api(app, 'POST', '/v1/images/debian/versions', writer, { version: 'next' });
    const [memory, database] = [
      await reads('versions', 'memory'),
      await reads('versions', 'database'),
    ];
    expect(await versionsOf()).toEqual(['1:published']);
    expect(await versionsOf()).toEqual(['1:published']);
    expect(await versionsOf(elsewhere)).toEqual(['1:published']); // the same list, from memory
    expect(await reads('versions', 'database')).toBe(database + 1);
    expect(await reads('versions', 'memory')).toBe(memory + 2);

    // A reader of debian's drafts sees them, and is neither answered nor counted from the cache.
    expect(await versionsOf(reader)).toEqual(['next:draft', '1:published']);
    await api(app, 'DELETE', '/v1/images/debian/versions/next', writer);
    expect(await versionsOf(reader)).toEqual(['1:published']);
    expect(await reads('versions', 'memory')).toBe(memory + 2);
    expect(await reads('versions', 'database')).toBe(database + 1);

    // Filters and pages are kept apart; a draft filter shows nothing to such callers.
    expect(await versionsOf({}, '?state=draft')).toEqual([]);
    expect(await versionsOf({}, '?state=published')).toEqual(['1:published']);
    const bad = await listed('/v1/images/debian/versions?cursor=not-a-cursor');
    expect(bad.status).toBe(400);
  });

  it('shows a publish at once, page by page', async () => {
    expect(await versionsOf()).toEqual(['1:published']); // kept for the current revision
    await publish('2', builds[1]);
    expect(await versionsOf()).toEqual(['2:published', '1:published']);

    const first = await listed('/v1/images/debian/versions?limit=1');
    expect(first.body.versions.map((v: any) => v.version)).toEqual(['2']);
    const cursor = encodeURIComponent(first.body.next_cursor);
    const second = await listed(`/v1/images/debian/versions?limit=1&cursor=${cursor}`);
    expect(second.body.versions.map((v: any) => v.version)).toEqual(['1']);
    expect(second.body.next_cursor).toBeNull();
    const again = await listed(`/v1/images/debian/versions?limit=1&cursor=${cursor}`);
    expect(again.body).toEqual(second.body);
  });

  it('shows alias sets, moves and deletions at once', async () => {
    const memory = await reads('aliases', 'memory');
    expect(await aliasesOf()).toEqual([]);
    expect(await aliasesOf()).toEqual([]);
    expect(await reads('aliases', 'memory')).toBe(memory + 1);

    const put = (alias: string, version: string) =>
      api(app, 'PUT', `/v1/images/debian/aliases/${alias}`, writer, { version });
    expect((await put('latest', '1')).status).toBe(200);
    expect(await aliasesOf()).toEqual(['latest→1']);
    expect((await put('latest', '2')).status).toBe(200);
    expect((await put('stable', '1')).status).toBe(200);
    expect(await aliasesOf()).toEqual(['latest→2', 'stable→1']);
    expect(await aliasesOf(elsewhere)).toEqual(['latest→2', 'stable→1']);
    expect((await api(app, 'DELETE', '/v1/images/debian/aliases/stable', writer)).status).toBe(204);
    expect(await aliasesOf()).toEqual(['latest→2']);
    expect(await aliasesOf(reader)).toEqual(['latest→2']);
  });

  it('shows a withdrawal at once, with the aliases it moved', async () => {
    expect(await versionsOf()).toEqual(['2:published', '1:published']);
    expect(await aliasesOf()).toEqual(['latest→2']);
    const done = await api(app, 'POST', '/v1/images/debian/versions/2/withdraw', writer, {
      reason: 'broken',
      move_aliases_to: '1',
    });
    expect(done.status).toBe(200);
    expect(await versionsOf()).toEqual(['1:published']);
    expect(await aliasesOf()).toEqual(['latest→1']);
    expect(await versionsOf(reader)).toEqual(['2:withdrawn', '1:published']);
  });

  it('shows another process’s change within the revision check', async () => {
    const other = await startTestApp({ database: app.database });
    try {
      expect((await listed('/v1/images/debian/versions', {}, other)).status).toBe(200);
      await publish('3', builds[2]);
      await eventually('the other process to list version 3', async () => {
        const res = await listed('/v1/images/debian/versions', {}, other);
        return res.body.versions[0]?.version === '3' ? true : undefined;
      });
    } finally {
      await other.close();
    }
  });

  it('forgets an image deleted, and lists the new image of the same name', async () => {
    await api(app, 'DELETE', '/v1/images/debian/aliases/latest', writer);
    for (const version of ['1', '3'])
      expect(
        (
          await api(app, 'POST', `/v1/images/debian/versions/${version}/withdraw`, writer, {
            reason: 'end of life',
          })
        ).status,
      ).toBe(200);
    // Nothing published: anonymous callers no longer see the image; readers see it withdrawn.
    expect((await listed('/v1/images/debian/versions')).status).toBe(404);
    expect(await versionsOf(reader)).toEqual(['3:withdrawn', '2:withdrawn', '1:withdrawn']);
    expect((await api(app, 'DELETE', '/v1/images/debian', writer)).status).toBe(204);
    const gone = await listed('/v1/images/debian/versions');
    expect(gone.status).toBe(404);
    expect((await listed('/v1/images/debian/aliases')).status).toBe(404);

    await publish('1', builds[3]);
    const fresh = await listed('/v1/images/debian/versions');
    expect(fresh.status).toBe(200);
    expect(fresh.body.versions).toHaveLength(1);
    const image = await listed('/v1/images/debian');
    expect(fresh.body.versions[0].image_id).toBe(image.body.id);
  });

  it('keeps nothing for such callers on a private server, nor for queries longer than a cursor', async () => {
    // A well-formed alias cursor longer than any the server hands out: answered, never kept.
    const longCursor = Buffer.from(JSON.stringify(['z'.repeat(300)])).toString('base64url');
    const aliasReads = await reads('aliases', 'database');
    for (let i = 0; i < 2; i++) {
      const page = await listed(`/v1/images/debian/aliases?cursor=${longCursor}`);
      expect([page.status, page.body.aliases]).toEqual([200, []]);
    }
    expect(await reads('aliases', 'database')).toBe(aliasReads);
    const database = await reads('versions', 'database');
    const drafts = await listed('/v1/images/debian/versions?state=draft&cursor=anything');
    expect([drafts.status, drafts.body.versions]).toEqual([200, []]);
    expect(await reads('versions', 'database')).toBe(database);

    const closed = await startTestApp({
      database: app.database,
      env: { IMGSRV_PUBLIC_READ: 'false' },
    });
    try {
      const count = async (source: 'memory' | 'database') =>
        (await metric(closed, `imgsrv_list_reads_total{list="versions",source="${source}"}`)) ?? 0;
      for (let i = 0; i < 2; i++) {
        expect((await listed('/v1/images/debian/versions', {}, closed)).status).toBe(401);
        expect((await listed('/v1/images/debian/versions', elsewhere, closed)).status).toBe(404);
        expect((await listed('/v1/images/debian/aliases', elsewhere, closed)).status).toBe(404);
        const seen = await listed('/v1/images/debian/versions', reader, closed);
        expect(seen.body.versions.map((v: any) => v.version)).toEqual(['1']);
      }
      expect([await count('memory'), await count('database')]).toEqual([0, 0]);
    } finally {
      await closed.close();
    }
  });

  it('keeps the public image list per revision; an update, a publish and a withdrawal show at once', async () => {
    type Listed = { name: string; description: string | null; storage: unknown };
    const imagesOf = async (headers: Headers = {}, query = '') => {
      const res = await listed(`/v1/images${query}`, headers);
      expect(res.status).toBe(200);
      return res.body as { images: Listed[]; next_cursor: string | null };
    };
    const names = async (headers: Headers = {}) =>
      (await imagesOf(headers)).images.map((i) => i.name);
    const [memory, database] = [await reads('images', 'memory'), await reads('images', 'database')];

    // Images with nothing published: readers of them see them, callers who may read no image
    // do not. A caller who may read some image (here ubuntu-*) is never given the kept page.
    expect((await api(app, 'POST', '/v1/images', writer, { name: 'fedora' })).status).toBe(201);
    expect((await api(app, 'POST', '/v1/images', writer, { name: 'ubuntu-x' })).status).toBe(201);
    expect(await names()).toEqual(['debian']);
    expect(await names()).toEqual(['debian']);
    expect(await names(reader)).toEqual(['debian', 'fedora', 'ubuntu-x']);
    expect(await names(elsewhere)).toEqual(['debian', 'ubuntu-x']);
    expect(await reads('images', 'database')).toBe(database + 1);
    expect(await reads('images', 'memory')).toBe(memory + 1);

    // Every update of an image's fields bumps the revision, even of one with nothing published:
    // asking first would race a publish committing meanwhile.
    const revision = async () =>
      Number(
        (
          await sql<{ revision: string }>(
            app.database.url,
            'SELECT revision FROM streams_revision WHERE id = 1',
          )
        )[0].revision,
      );
    const before = await revision();
    const draftOnly = await api(app, 'PATCH', '/v1/images/ubuntu-x', writer, { description: 'x' });
    expect(draftOnly.status).toBe(200);
    expect(await revision()).toBe(before + 1);

    // An update of an image's fields, shown at once.
    const patched = await api(app, 'PATCH', '/v1/images/debian', writer, {
      description: 'Debian GNU/Linux',
    });
    expect(patched.status).toBe(200);
    expect((await imagesOf()).images[0].description).toBe('Debian GNU/Linux');

    // A publish: the image appears, with what its published version cites (no other image
    // cites those bytes); pages kept apart.
    expect(await publishBuild(app, writer, 'fedora', '1', builds[0])).toBe(202);
    const both = (await imagesOf()).images;
    expect(both.map((i) => i.name)).toEqual(['debian', 'fedora']);
    const fedoraBytes = builds[0].meta.size + builds[0].root.size;
    expect(both[1].storage).toEqual({ bytes: fedoraBytes, bytes_unique: fedoraBytes });
    const first = await imagesOf({}, '?limit=1');
    expect(first.images.map((i) => i.name)).toEqual(['debian']);
    const next = `?limit=1&cursor=${encodeURIComponent(first.next_cursor as string)}`;
    expect((await imagesOf({}, next)).images.map((i) => i.name)).toEqual(['fedora']);
    expect((await imagesOf({}, next)).images.map((i) => i.name)).toEqual(['fedora']);

    // A withdrawal of its one published version: gone for such callers, still there for readers.
    const withdrawn = await api(app, 'POST', '/v1/images/fedora/versions/1/withdraw', writer, {
      reason: 'test',
    });
    expect(withdrawn.status).toBe(200);
    expect(await names()).toEqual(['debian']);
    expect(await names(reader)).toEqual(['debian', 'fedora', 'ubuntu-x']);
  });
});
