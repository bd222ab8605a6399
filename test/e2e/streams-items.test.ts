import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { issueIdentity } from '../support/auth';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  makeSquashfs,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { composeDraft, publishPath, streamsRowsOf, waitForJob } from '../support/publish';
import { sql } from '../support/sql';
import { api } from '../support/catalog';
import { startTestApp, type TestApp } from '../support/test-app';

interface Doc {
  products: Record<
    string,
    {
      aliases: string;
      versions: Record<
        string,
        { label: string; items: Record<string, { path: string; sha256: string }> }
      >;
    }
  >;
}

const hex = (f: FixtureFile) => f.sha256.slice('sha256:'.length);

describe('streams items: content-addressed downloads for every image that ships the bytes', () => {
  let fixtures: string;
  let app: TestApp;
  let writer: Record<string, string>;
  let ct: { meta: FixtureFile; root: FixtureFile };
  let vm: { meta: FixtureFile; root: FixtureFile };
  let draftOnly: FixtureFile;

  const basic = (token: string) => ({
    authorization: `Basic ${Buffer.from(`any:${token}`).toString('base64')}`,
  });
  const publish = async (
    image: string,
    version: string,
    specs: Parameters<typeof composeDraft>[4],
  ) => {
    await composeDraft(app, writer, image, version, specs);
    const job = await api(app, 'POST', publishPath(image, version), writer);
    await waitForJob(app, writer, job.body.id, 'succeeded');
  };

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    const meta = (type: 'container' | 'virtual-machine') =>
      makeIncusMetadata(fixtures, {
        architecture: 'x86_64',
        os: 'Debian',
        release: '12',
        variant: 'default',
        type,
        serial: '20241120_05:24',
      });
    ct = { meta: await meta('container'), root: await makeSquashfs(fixtures, { seed: 7 }) };
    vm = { meta: await meta('virtual-machine'), root: await makeQcow2(fixtures, { seed: 7 }) };
    draftOnly = await makeSquashfs(fixtures, { seed: 8 });
    app = await startTestApp({ env: { IMGSRV_PUBLIC_READ: 'false' } });
    writer = (await issueIdentity(app, 'content-writer')).headers;
    // alpha publishes the container (and a VM) first; beta ships the same container later.
    await publish('alpha', '1', [
      { format: 'squashfs', root: ct.root, metadata: ct.meta, architecture: 'x86_64' },
      { format: 'qcow2', root: vm.root, metadata: vm.meta, architecture: 'x86_64' },
    ]);
    await publish('beta', '1', [
      { format: 'squashfs', root: ct.root, metadata: ct.meta, architecture: 'amd64' },
    ]);
    await composeDraft(app, writer, 'gamma', '1', [
      { format: 'squashfs', root: draftOnly, metadata: ct.meta, architecture: 'amd64' },
    ]);
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    if (fixtures) await removeFixtureDir(fixtures);
  });

  it('lists the shared container once, under alpha, with both images’ names and content-addressed paths', async () => {
    const res = await app.fetch('/streams/v1/images.json', { headers: writer });
    const doc = (await res.json()) as Doc;
    const product = doc.products['alpha:1:amd64:default:container'];
    expect(product.aliases).toBe('alpha/1,beta/1');
    expect(Object.keys(doc.products).sort()).toEqual([
      'alpha:1:amd64:default:container',
      'alpha:1:amd64:default:vm',
    ]);
    // The image's own serial, and the version that first shipped it as the label.
    const version = product.versions['20241120_05:24'];
    expect(version.label).toBe('1');
    expect(version.items['root.squashfs'].path).toBe(
      `streams/v1/items/${hex(ct.root)}/alpha-1-amd64.squashfs`,
    );
    expect(version.items['incus.tar.xz'].path).toBe(
      `streams/v1/items/${hex(ct.meta)}/incus.tar.xz`,
    );
  });

  it('keeps the serial in the projection rows', async () => {
    const [{ id }] = await sql<{ id: string }>(
      app.database.url,
      `SELECT v.id FROM image_version v JOIN image i ON i.id = v.image_id WHERE i.name = 'beta'`,
    );
    const rows = await streamsRowsOf(app.database.url, id);
    expect(rows.map((r) => r.serial)).toEqual(['20241120_05:24']);
  });

  it('serves the bytes to a reader of beta only, though alpha published them first', async () => {
    const betaReader = await issueIdentity(app, 'reader', ['beta']);
    const path = `/streams/v1/items/${hex(ct.root)}/alpha-1-amd64.squashfs`;
    for (const headers of [betaReader.headers, basic(betaReader.token)]) {
      const res = await app.fetch(path, { headers });
      expect(res.status).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(await readFile(ct.root.path))).toBe(true);
      expect(res.headers.get('etag')).toBe(`"${ct.root.sha256}"`);
      expect(res.headers.get('content-type')).toBe('application/vnd.squashfs');
    }
    // Beta's own file name for the same bytes works too; a range as well.
    const ranged = await app.fetch(`/streams/v1/items/${hex(ct.root)}/beta-1-amd64.squashfs`, {
      headers: { ...betaReader.headers, range: 'bytes=0-3' },
    });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(
      (await readFile(ct.root.path)).subarray(0, 4),
    );
    const meta = await app.fetch(`/streams/v1/items/${hex(ct.meta)}/incus.tar.xz`, {
      headers: betaReader.headers,
    });
    expect(meta.status).toBe(200);
    expect(
      createHash('sha256')
        .update(Buffer.from(await meta.arrayBuffer()))
        .digest('hex'),
    ).toBe(hex(ct.meta));
  });

  it('answers one 404 for bytes the caller may not read, drafts, unknown digests and other names', async () => {
    const betaReader = await issueIdentity(app, 'reader', ['beta']);
    const otherReader = await issueIdentity(app, 'reader', ['zz-other-*']);
    const cases: [Record<string, string>, string][] = [
      // alpha's VM: beta does not ship it.
      [betaReader.headers, `/streams/v1/items/${hex(vm.root)}/alpha-1-amd64.qcow2`],
      // a reader of neither image.
      [otherReader.headers, `/streams/v1/items/${hex(ct.root)}/alpha-1-amd64.squashfs`],
      // bytes only a draft cites, even for a writer who may read the draft.
      [writer, `/streams/v1/items/${hex(draftOnly)}/gamma-1-amd64.squashfs`],
      // unknown bytes.
      [writer, `/streams/v1/items/${'0'.repeat(64)}/incus.tar.xz`],
      // a name the documents never give these bytes.
      [writer, `/streams/v1/items/${hex(ct.root)}/other.squashfs`],
    ];
    const bodies = new Set<string>();
    for (const [headers, path] of cases) {
      const res = await app.fetch(path, { headers });
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const body = (await res.json()) as { code: string; detail: string };
      bodies.add(`${body.code} ${body.detail}`);
    }
    expect(bodies.size).toBe(1);
    // Without credentials on a private server: 401; a malformed digest: 400.
    expect(
      (await app.fetch(`/streams/v1/items/${hex(ct.root)}/alpha-1-amd64.squashfs`)).status,
    ).toBe(401);
    expect(
      (await app.fetch('/streams/v1/items/XYZ/incus.tar.xz', { headers: writer })).status,
    ).toBe(400);
  });
});
