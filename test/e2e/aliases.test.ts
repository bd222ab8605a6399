import { Client } from 'pg';
import { startTestApp, type TestApp } from '../support/test-app';
import { issueIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';

describe('aliases and refs', () => {
  let app: TestApp;
  let w: Record<string, string>;
  let reader: Record<string, string>;

  beforeAll(async () => {
    app = await startTestApp();
    w = (await issueIdentity(app, 'content-writer')).headers;
    reader = (await issueIdentity(app, 'reader')).headers;
    await api(app, 'POST', '/v1/images', w, { name: 'alpine' });
    for (const v of ['1', '2', 'draft'])
      await api(app, 'POST', '/v1/images/alpine/versions', w, { version: v });
    await markPublished(app, 'alpine', '1');
    await markPublished(app, 'alpine', '2');
    await api(app, 'POST', '/v1/images', w, { name: 'other' });
    await api(app, 'POST', '/v1/images/other/versions', w, { version: '9' });
    await markPublished(app, 'other', '9');
  });
  afterAll(() => app.close());

  it('creates and moves an alias, with conditional moves by ETag', async () => {
    const created = await api(app, 'PUT', '/v1/images/alpine/aliases/latest', w, { version: '1' });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ alias: 'latest', version: '1' });
    const read = await api(app, 'GET', '/v1/images/alpine/aliases/latest');
    const etag = read.headers.get('etag') as string;
    expect(etag).toMatch(/^"[0-9a-f-]+\.1"$/);

    const stale = await api(
      app,
      'PUT',
      '/v1/images/alpine/aliases/latest',
      { ...w, 'if-match': '"nope.1"' },
      { version: '2' },
    );
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('ALIAS_PRECONDITION_FAILED');
    const moved = await api(
      app,
      'PUT',
      '/v1/images/alpine/aliases/latest',
      { ...w, 'if-match': etag },
      { version: '2' },
    );
    expect(moved.status).toBe(200);
    expect(moved.body.version).toBe('2');
    expect(moved.headers.get('etag')).not.toBe(etag);
    const again = await api(
      app,
      'PUT',
      '/v1/images/alpine/aliases/latest',
      { ...w, 'if-match': etag },
      { version: '1' },
    );
    expect(again.status).toBe(412);
  });

  it('points only to existing, published versions of its own image', async () => {
    expect(
      (await api(app, 'PUT', '/v1/images/alpine/aliases/x', w, { version: 'draft' })).body.code,
    ).toBe('ALIAS_TARGET_NOT_PUBLISHED');
    expect(
      (await api(app, 'PUT', '/v1/images/alpine/aliases/x', w, { version: 'missing' })).status,
    ).toBe(404);
    expect((await api(app, 'PUT', '/v1/images/alpine/aliases/x', w, { version: '9' })).status).toBe(
      404,
    );
    expect(
      (await api(app, 'PUT', '/v1/images/alpine/aliases/bad name', w, { version: '1' })).status,
    ).toBe(400);
    expect(
      (await api(app, 'PUT', '/v1/images/alpine/aliases/x', reader, { version: '1' })).status,
    ).toBe(403);
    expect(
      (await api(app, 'PUT', '/v1/images/alpine/aliases/x', {}, { version: '1' })).status,
    ).toBe(401);
  });

  it('is kept on a published version of its own image by the database', async () => {
    const db = new Client({ connectionString: app.database.url });
    await db.connect();
    try {
      await expect(
        db.query(
          `UPDATE alias SET version_id = (SELECT v.id FROM image_version v JOIN image i ON i.id = v.image_id WHERE i.name = 'other')
            WHERE alias = 'latest'`,
        ),
      ).rejects.toMatchObject({ code: '23514' });
      await expect(
        db.query(
          `UPDATE alias SET version_id = (SELECT v.id FROM image_version v JOIN image i ON i.id = v.image_id
                                           WHERE i.name = 'alpine' AND v.version = 'draft') WHERE alias = 'latest'`,
        ),
      ).rejects.toMatchObject({ code: '23514' });
    } finally {
      await db.end();
    }
  });

  it('resolves refs: exact version first, then alias', async () => {
    await api(app, 'PUT', '/v1/images/alpine/aliases/stable', w, { version: '1' });
    expect((await api(app, 'GET', '/v1/images/alpine/refs/1')).body.version.version).toBe('1');
    expect((await api(app, 'GET', '/v1/images/alpine/refs/stable')).body.version.version).toBe('1');
    expect((await api(app, 'GET', '/v1/images/alpine/refs/latest')).body.version.version).toBe('2');
    expect((await api(app, 'GET', '/v1/images/alpine/refs/nothing')).body.code).toBe(
      'REF_NOT_FOUND',
    );
    expect((await api(app, 'GET', '/v1/images/alpine/refs/draft', reader)).body.code).toBe(
      'REF_NOT_FOUND',
    );
  });

  it('lists, deletes, bumps the streams revision and audits every change', async () => {
    const list = await api(app, 'GET', '/v1/images/alpine/aliases');
    expect(list.body.aliases.map((a: { alias: string }) => a.alias)).toEqual(['latest', 'stable']);
    const db = new Client({ connectionString: app.database.url });
    await db.connect();
    const revision = async () =>
      Number((await db.query('SELECT revision FROM streams_revision')).rows[0].revision);
    try {
      const before = await revision();
      expect((await api(app, 'DELETE', '/v1/images/alpine/aliases/stable', w)).status).toBe(204);
      expect(await revision()).toBe(before + 1);
      expect((await api(app, 'DELETE', '/v1/images/alpine/aliases/stable', w)).status).toBe(404);
    } finally {
      await db.end();
    }
    const events = await api(app, 'GET', '/v1/audit-events?image=alpine', {
      authorization: `Bearer ${app.bootstrapToken}`,
    });
    const actions = events.body.audit_events.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['alias.create', 'alias.move', 'alias.delete']));
  });

  it('serves streams documents with a strong ETag, 304s and gzip', async () => {
    const first = await app.fetch('/streams/v1/images.json');
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(first.headers.get('cache-control')).toMatch(/max-age=60/);
    expect(await first.json()).toMatchObject({
      datatype: 'image-downloads',
      format: 'products:1.0',
    });
    expect(
      (await app.fetch('/streams/v1/images.json', { headers: { 'if-none-match': etag } })).status,
    ).toBe(304);
    const gz = await app.fetch('/streams/v1/index.json', {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(gz.status).toBe(200);
    expect(await gz.json()).toMatchObject({ format: 'index:1.0' });
  });
});
