import { startTestApp, type TestApp } from '../support/test-app';
import { issueIdentity, type IssuedIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';
import { fakeDigest } from '../support/digests';

const artifactBody = (over: Record<string, unknown> = {}) => ({
  operating_system: 'debian',
  architecture: 'amd64',
  format: 'qcow2',
  primary_blob_digest: fakeDigest('a'),
  primary_blob_size_bytes: 1024,
  primary_media_type: 'application/x-qemu-disk',
  ...over,
});

describe('catalog', () => {
  let app: TestApp;
  let writer: IssuedIdentity;
  let reader: IssuedIdentity;
  let debianWriter: IssuedIdentity;
  let w: Record<string, string>;

  beforeAll(async () => {
    app = await startTestApp();
    writer = await issueIdentity(app, 'content-writer');
    reader = await issueIdentity(app, 'reader');
    debianWriter = await issueIdentity(app, 'content-writer', ['debian-*'], 'debian writer');
    w = writer.headers;
  });
  afterAll(() => app.close());

  describe('images', () => {
    it('creates, reads, patches and refuses duplicates', async () => {
      const created = await api(app, 'POST', '/v1/images', w, {
        name: 'alpine-3',
        display_name: 'Alpine 3',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        name: 'alpine-3',
        display_name: 'Alpine 3',
        description: null,
        created_by: writer.principalId,
      });
      expect((await api(app, 'POST', '/v1/images', w, { name: 'alpine-3' })).body).toMatchObject({
        status: 409,
        code: 'IMAGE_EXISTS',
      });
      const patched = await api(app, 'PATCH', '/v1/images/alpine-3', w, {
        description: 'small',
        display_name: null,
      });
      expect(patched.body).toMatchObject({ description: 'small', display_name: null });
      expect((await api(app, 'GET', '/v1/images/alpine-3', reader.headers)).body.description).toBe(
        'small',
      );
    });

    it.each([
      ['uppercase', { name: 'Debian' }],
      ['a leading dot', { name: '.hidden' }],
      ['traversal', { name: '../etc' }],
      ['a slash', { name: 'a/b' }],
      ['too long', { name: 'a'.repeat(129) }],
      ['a number', { name: 12 }],
      ['an unknown field', { name: 'ok-name', owner: 'me' }],
    ])('refuses a name with %s (400)', async (_, body) => {
      const res = await api(app, 'POST', '/v1/images', w, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    });

    it.each(['/v1/images/..%2fetc', '/v1/images/%2e%2e', '/v1/images/UPPER', '/v1/images/a%00b'])(
      'answers the path %s with a 4xx problem, never 500',
      async (path) => {
        const res = await api(app, 'GET', path, w);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.body.code).toBeDefined();
      },
    );
  });

  describe('scoped grants', () => {
    it('lets a debian-* writer write debian-12 and forbids ubuntu-24.04', async () => {
      expect(
        (await api(app, 'POST', '/v1/images', debianWriter.headers, { name: 'debian-12' })).status,
      ).toBe(201);
      expect((await api(app, 'POST', '/v1/images', w, { name: 'ubuntu-24.04' })).status).toBe(201);
      const denied = await api(app, 'POST', '/v1/images', debianWriter.headers, {
        name: 'ubuntu-25.04',
      });
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ code: 'FORBIDDEN', image: 'ubuntu-25.04' });
      expect(
        (
          await api(app, 'POST', '/v1/images/debian-12/versions', debianWriter.headers, {
            version: '1',
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await api(app, 'POST', '/v1/images/ubuntu-24.04/versions', debianWriter.headers, {
            version: '1',
          })
        ).status,
      ).toBe(403);
    });

    it('answers the content routes per role', async () => {
      await api(app, 'POST', '/v1/images/ubuntu-24.04/versions', w, { version: 'matrix' });
      const routes: [string, string, unknown?][] = [
        ['GET', '/v1/images/ubuntu-24.04/versions/matrix'],
        ['POST', '/v1/images', { name: `matrix-${Math.random().toString(36).slice(2, 8)}` }],
        [
          'POST',
          '/v1/images/ubuntu-24.04/versions/matrix/artifacts',
          artifactBody({ architecture: `arch${Math.random().toString(36).slice(2, 6)}` }),
        ],
      ];
      const who: Record<string, Record<string, string>> = {
        anonymous: {},
        reader: reader.headers,
        writer: w,
        'release-manager': (await issueIdentity(app, 'release-manager')).headers,
        'auth-manager': (await issueIdentity(app, 'auth-manager')).headers,
      };
      const expected: Record<string, number[]> = {
        anonymous: [404, 401, 401],
        reader: [200, 403, 403],
        writer: [200, 201, 201],
        'release-manager': [200, 403, 403],
        'auth-manager': [404, 403, 403],
      };
      for (const [name, headers] of Object.entries(who)) {
        const got = [];
        for (const [method, path, body] of routes) {
          const b =
            typeof body === 'object' && body && 'name' in body
              ? { name: `m-${name}-${Date.now()}` }
              : body;
          got.push((await api(app, method, path, headers, b)).status);
        }
        expect([name, got]).toEqual([name, expected[name]]);
      }
    });
  });

  describe('versions and manifests', () => {
    beforeAll(async () => {
      await api(app, 'POST', '/v1/images', w, { name: 'fedora-41' });
    });

    it('builds a draft manifest and refuses bad or duplicate entries', async () => {
      expect(
        (await api(app, 'POST', '/v1/images/fedora-41/versions', w, { version: '20261123' })).body
          .state,
      ).toBe('draft');
      expect(
        (await api(app, 'POST', '/v1/images/fedora-41/versions', w, { version: '20261123' })).body
          .code,
      ).toBe('VERSION_EXISTS');
      expect(
        (await api(app, 'POST', '/v1/images/fedora-41/versions', w, { version: '-bad' })).status,
      ).toBe(400);
      expect((await api(app, 'POST', '/v1/images/nope/versions', w, { version: '1' })).status).toBe(
        404,
      );

      const base = '/v1/images/fedora-41/versions/20261123/artifacts';
      const vm = await api(
        app,
        'POST',
        base,
        w,
        artifactBody({ architecture: 'x86_64', os: undefined }),
      );
      expect(vm.status).toBe(201);
      expect(vm.body).toMatchObject({
        architecture: 'amd64',
        variant: 'default',
        format: 'qcow2',
        primary_blob_size_bytes: 1024,
      });
      expect((await api(app, 'POST', base, w, artifactBody())).body.code).toBe('ARTIFACT_EXISTS');
      const ct = await api(
        app,
        'POST',
        base,
        w,
        artifactBody({ format: 'squashfs', primary_blob_digest: fakeDigest('b') }),
      );
      expect(ct.status).toBe(201);

      for (const bad of [
        { primary_blob_digest: `sha512:${'a'.repeat(128)}` },
        { primary_blob_digest: `sha256:${'A'.repeat(64)}` },
        { primary_blob_digest: 'sha256:abc' },
        { primary_blob_size_bytes: -1 },
        { primary_blob_size_bytes: 1e300 },
        { primary_blob_size_bytes: 1.5 },
        { format: 'vmdk' },
        { architecture: '../x' },
        { primary_media_type: 'not a type' },
      ]) {
        const res = await api(
          app,
          'POST',
          base,
          w,
          artifactBody({ architecture: 'riscv64', ...bad }),
        );
        expect([JSON.stringify(bad), res.status]).toEqual([JSON.stringify(bad), 400]);
      }

      const attach = `${base}/${vm.body.id}/attachments`;
      const meta = {
        name: 'incus.tar.xz',
        media_type: 'application/x-xz',
        blob_digest: fakeDigest('c'),
        blob_size_bytes: 300,
      };
      expect((await api(app, 'POST', attach, w, meta)).status).toBe(201);
      expect((await api(app, 'POST', attach, w, meta)).body.code).toBe('ATTACHMENT_EXISTS');

      const manifest = await api(
        app,
        'GET',
        '/v1/images/fedora-41/versions/20261123',
        reader.headers,
      );
      expect(manifest.status).toBe(200);
      expect(manifest.body.version).toMatchObject({
        version: '20261123',
        state: 'draft',
        created_by: writer.principalId,
      });
      expect(manifest.body.artifacts).toHaveLength(2);
      const withMeta = manifest.body.artifacts.find(
        (a: { artifact: { id: string } }) => a.artifact.id === vm.body.id,
      );
      expect(withMeta.attachments).toEqual([
        expect.objectContaining({ name: 'incus.tar.xz', blob_size_bytes: 300 }),
      ]);
    });

    it('refuses an attachment on another version’s artifact', async () => {
      await api(app, 'POST', '/v1/images/fedora-41/versions', w, { version: 'other' });
      const manifest = await api(app, 'GET', '/v1/images/fedora-41/versions/20261123', w);
      const foreign = manifest.body.artifacts[0].artifact.id;
      const res = await api(
        app,
        'POST',
        `/v1/images/fedora-41/versions/other/artifacts/${foreign}/attachments`,
        w,
        {
          name: 'sig',
          media_type: 'application/pgp-signature',
          blob_digest: fakeDigest('d'),
          blob_size_bytes: 1,
        },
      );
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('ARTIFACT_NOT_FOUND');
    });

    it('hides drafts from anonymous callers and shows published versions to everyone', async () => {
      expect((await api(app, 'GET', '/v1/images/fedora-41')).status).toBe(404);
      expect((await api(app, 'GET', '/v1/images/fedora-41/versions/20261123')).status).toBe(404);
      expect(
        (await api(app, 'GET', '/v1/images')).body.images.map((i: { name: string }) => i.name),
      ).not.toContain('fedora-41');

      await markPublished(app, 'fedora-41', '20261123');
      expect((await api(app, 'GET', '/v1/images/fedora-41')).status).toBe(200);
      expect(
        (await api(app, 'GET', '/v1/images')).body.images.map((i: { name: string }) => i.name),
      ).toEqual(['fedora-41']);
      const anonymous = await api(app, 'GET', '/v1/images/fedora-41/versions');
      expect(anonymous.body.versions.map((v: { version: string }) => v.version)).toEqual([
        '20261123',
      ]);
      const all = await api(app, 'GET', '/v1/images/fedora-41/versions', reader.headers);
      expect(all.body.versions.map((v: { version: string }) => v.version).sort()).toEqual([
        '20261123',
        'other',
      ]);
      const drafts = await api(
        app,
        'GET',
        '/v1/images/fedora-41/versions?state=draft',
        reader.headers,
      );
      expect(drafts.body.versions.map((v: { version: string }) => v.version)).toEqual(['other']);
      expect(
        (await api(app, 'GET', '/v1/images/fedora-41/versions?state=draft')).body.versions,
      ).toEqual([]);
      expect((await api(app, 'GET', '/v1/images/fedora-41/versions/other')).status).toBe(404);
      expect((await api(app, 'GET', '/v1/images/fedora-41/versions?state=bogus')).status).toBe(400);
    });

    it('freezes a published manifest (409) and resolves it as a ref', async () => {
      const base = '/v1/images/fedora-41/versions/20261123';
      const add = await api(
        app,
        'POST',
        `${base}/artifacts`,
        w,
        artifactBody({ architecture: 'arm64' }),
      );
      expect(add.status).toBe(409);
      expect(add.body.code).toBe('VERSION_NOT_DRAFT');
      expect((await api(app, 'DELETE', base, w)).body.code).toBe('VERSION_NOT_DRAFT');
      const manifest = await api(app, 'GET', base, w);
      expect(
        (await api(app, 'DELETE', `${base}/artifacts/${manifest.body.artifacts[0].artifact.id}`, w))
          .status,
      ).toBe(409);

      const ref = await api(app, 'GET', '/v1/images/fedora-41/refs/20261123');
      expect(ref.status).toBe(200);
      expect(ref.body.version.state).toBe('published');
      expect(
        (await api(app, 'GET', '/v1/images/fedora-41/refs/other', reader.headers)).body.code,
      ).toBe('REF_NOT_FOUND');
    });

    it('deletes drafts, artifacts and attachments, and audits every change', async () => {
      const base = '/v1/images/fedora-41/versions/other/artifacts';
      const a = await api(app, 'POST', base, w, artifactBody());
      const att = await api(app, 'POST', `${base}/${a.body.id}/attachments`, w, {
        name: 'sbom.json',
        media_type: 'application/spdx+json',
        blob_digest: fakeDigest('e'),
        blob_size_bytes: 2,
      });
      expect(
        (await api(app, 'DELETE', `${base}/${a.body.id}/attachments/${att.body.id}`, w)).status,
      ).toBe(204);
      expect((await api(app, 'DELETE', `${base}/${a.body.id}`, w)).status).toBe(204);
      expect((await api(app, 'DELETE', '/v1/images/fedora-41/versions/other', w)).status).toBe(204);
      expect((await api(app, 'GET', '/v1/images/fedora-41/versions/other', w)).status).toBe(404);

      const events = await api(app, 'GET', '/v1/audit-events?image=fedora-41&limit=500', {
        authorization: `Bearer ${app.bootstrapToken}`,
      });
      const actions = events.body.audit_events.map((e: { action: string }) => e.action);
      for (const action of [
        'image.create',
        'version.create',
        'artifact.create',
        'attachment.create',
        'attachment.delete',
        'artifact.delete',
        'version.delete',
      ]) {
        expect(actions).toContain(action);
      }
      expect(
        events.body.audit_events.every((e: { image_name: string }) => e.image_name === 'fedora-41'),
      ).toBe(true);
    });

    it('pages through versions without repeats', async () => {
      await api(app, 'POST', '/v1/images', w, { name: 'paged' });
      for (let i = 0; i < 5; i++)
        await api(app, 'POST', '/v1/images/paged/versions', w, { version: `v${i}` });
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: any = await api(
          app,
          'GET',
          `/v1/images/paged/versions?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          w,
        );
        seen.push(...page.body.versions.map((v: { version: string }) => v.version));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(seen).toEqual(['v4', 'v3', 'v2', 'v1', 'v0']);
    });
  });
});
