import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { composeDraft, publishPath, waitForJob } from '../support/publish';
import { eventually } from '../support/waiting';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * Two application instances on one database stand for two API processes: each renders the
 * streams documents once per revision and answers anonymous reads from memory, re-reading the
 * revision at most every REVISION_RECHECK_MS, so one instance's change reaches the other.
 */
describe('streams documents served by several API processes', () => {
  let dir: string;
  let one: TestApp;
  let two: TestApp;
  let w: Record<string, string>;
  let disk: FixtureFile;
  let meta: FixtureFile;

  beforeAll(async () => {
    dir = await makeFixtureDir();
    one = await startTestApp();
    two = await startTestApp({ database: one.database });
    w = (await issueIdentity(one, 'content-writer')).headers;
    [disk, meta] = await Promise.all([
      makeQcow2(dir, { seed: 'streams-serving' }),
      makeIncusMetadata(dir, {
        architecture: 'x86_64',
        os: 'Debian',
        release: 'bookworm',
        variant: 'default',
        type: 'virtual-machine',
      }),
    ]);
  });
  afterAll(async () => {
    await two.close();
    await one.close();
    await removeFixtureDir(dir);
  });

  const images = async (app: TestApp) => {
    const res = await app.fetch('/streams/v1/images.json');
    expect(res.status).toBe(200);
    return { etag: res.headers.get('etag') as string, body: await res.text() };
  };

  it('shows a publish and an alias move on every process, byte for byte the same', async () => {
    const before = await images(two);
    expect((await images(two)).etag).toBe(before.etag);

    await composeDraft(one, w, 'debian-12', '1', [{ root: disk, metadata: meta }]);
    const accepted = await api(one, 'POST', publishPath('debian-12', '1'), w);
    await waitForJob(one, w, accepted.body.id, 'succeeded');
    // The process that ran the publish shows it at once …
    const afterPublish = await images(one);
    expect(afterPublish.body).toMatch(/"aliases":"debian-12\/1"/);
    // … and the other within its recheck interval, with identical bytes.
    const seen = await eventually('the second process to show the publish', async () => {
      const doc = await images(two);
      return doc.etag === afterPublish.etag ? doc : undefined;
    });
    expect(seen.body).toBe(afterPublish.body);

    expect(
      (await api(two, 'PUT', '/v1/images/debian-12/aliases/latest', w, { version: '1' })).status,
    ).toBe(200);
    const moved = await images(two);
    expect(moved.body).toMatch(/"aliases":"[^"]*debian-12\/latest/);
    const seenByOne = await eventually('the first process to show the alias', async () => {
      const doc = await images(one);
      return doc.etag === moved.etag ? doc : undefined;
    });
    expect(seenByOne.body).toBe(moved.body);
  });

  it('answers conditional, HEAD and gzip requests on the fast path like the controller does', async () => {
    const { etag, body } = await images(one);
    const head = await one.fetch('/streams/v1/images.json', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(etag);
    expect(await head.text()).toBe('');
    const conditional = await one.fetch('/streams/v1/images.json?x=1', {
      headers: { 'if-none-match': `W/${etag}` },
    });
    expect(conditional.status).toBe(304);
    expect(conditional.headers.get('x-request-id')).toBeTruthy();
    const gz = await one.fetch('/streams/v1/images.json', {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(await gz.text()).toBe(body); // undici decodes it
  });

  it('still checks credentials that come with the request', async () => {
    const bad = await one.fetch('/streams/v1/images.json', {
      headers: { authorization: 'Bearer imgsrv_not_a_token' },
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });
});
