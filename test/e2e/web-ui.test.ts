import { createHash } from 'node:crypto';
import * as fc from 'fast-check';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Locator,
  type Page,
} from 'playwright-core';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeSquashfs,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { combinedFingerprint, composeDraft, publishPath, waitForJob } from '../support/publish';
import { startTestApp, type TestApp } from '../support/test-app';

/** Where the pages' screenshots go (kept by CI as test artefacts; not in git). */
const SHOTS = join(__dirname, '..', '..', 'test-artifacts', 'web-ui');
const CHROMIUM = process.env.IMGSRV_TEST_CHROMIUM ?? '/usr/bin/chromium';
const AXE = require.resolve('axe-core/axe.min.js');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Runs axe-core in the page; the serious and critical violations, as readable lines. */
async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: () => Promise<unknown> } }).axe;
    return ((await axe.run()) as { violations: unknown[] }).violations;
  });
  return (violations as AxeViolation[])
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
    );
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The visible text of each element, with its whitespace collapsed. */
const textsOf = async (locator: Locator): Promise<string[]> =>
  (await locator.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());

const sha256Hex = (file: FixtureFile) => file.sha256.replace(/^sha256:/, '');

describe('web catalog (/ui) in Chromium', () => {
  let fixtures: string;
  let app: TestApp;
  let browser: Browser;
  let writer: Record<string, string>;
  let writerToken: string;
  const files: Record<string, { meta: FixtureFile; root: FixtureFile }> = {};

  const publish = async (
    image: string,
    version: string,
    os: string,
    release: string,
    architecture: string,
    seed: number,
  ) => {
    const meta = await makeIncusMetadata(fixtures, {
      architecture,
      os,
      release,
      variant: 'default',
      type: 'container',
      serial: `${version}_01:00`,
    });
    const root = await makeSquashfs(fixtures, { seed });
    files[`${image}/${version}`] = { meta, root };
    await composeDraft(app, writer, image, version, [
      { format: 'squashfs', root, metadata: meta, architecture },
    ]);
    const job = await api(app, 'POST', publishPath(image, version), writer);
    await waitForJob(app, writer, job.body.id, 'succeeded');
    return job.body.id as string;
  };

  const signIn = async (context: BrowserContext, base: string, token: string): Promise<Page> => {
    const page = await context.newPage();
    await page.goto(`${base}/ui/sign-in`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/ui`);
    return page;
  };

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    fixtures = await makeFixtureDir();
    app = await startTestApp({ env: { IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms' } });
    const identity = await issueIdentity(app, 'content-writer');
    writer = identity.headers;
    writerToken = identity.token;
    await publish('debian-12', '20261201', 'Debian', '12', 'x86_64', 1);
    await publish('debian-12', '20261202', 'Debian', '12', 'x86_64', 2);
    await publish('alpine-edge', '20261201', 'Alpine', 'edge', 'aarch64', 3);
    expect(
      (
        await api(app, 'PUT', '/v1/images/debian-12/aliases/latest', writer, {
          version: '20261202',
        })
      ).status,
    ).toBe(200);
    // A draft (unpublished) and an image whose title would be markup if it were not escaped.
    await api(app, 'POST', '/v1/images/debian-12/versions', writer, { version: '20261203' });
    await api(app, 'POST', '/v1/images', writer, {
      name: 'odd-title',
      display_name: '<img src=x onerror="document.title=1">',
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (fixtures) await removeFixtureDir(fixtures);
  });

  it('lists published images to anonymous visitors, with search and filters', async () => {
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    await page.goto(`${app.url}/ui`);
    const rows = page.locator('table.images tbody tr');
    await expect(textsOf(rows.locator('th a'))).resolves.toEqual(['alpine-edge', 'debian-12']);
    // Anonymous visitors see published content only: no draft-only image, no job or audit links.
    await expect(page.content()).resolves.not.toContain('odd-title');
    await expect(page.getByRole('link', { name: 'Publish jobs' }).count()).resolves.toBe(0);
    await expect(rows.filter({ hasText: 'debian-12' }).textContent()).resolves.toContain('latest');
    await shot(page, 'images');
    expect(await accessibilityProblems(page)).toEqual([]);

    await page.getByLabel('Name').fill('alp');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect(textsOf(rows.locator('th a'))).resolves.toEqual(['alpine-edge']);

    await page.goto(`${app.url}/ui`);
    await page.getByLabel('OS').selectOption('Debian');
    await page.getByLabel('Architecture').selectOption('amd64');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect(textsOf(rows.locator('th a'))).resolves.toEqual(['debian-12']);

    await page.getByRole('link', { name: 'Clear' }).click();
    await page.getByLabel('Alias').fill('latest');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect(textsOf(rows.locator('th a'))).resolves.toEqual(['debian-12']);

    await page.goto(`${app.url}/ui?release=nope`);
    await expect(page.locator('main').textContent()).resolves.toContain('No image matches.');
    // A malformed query answers a 400 page, not a 500.
    const bad = await page.goto(`${app.url}/ui?q=a&q=b`);
    expect(bad?.status()).toBe(400);
    await context.close();
  });

  it('shows an image with its versions newest first, states and aliases', async () => {
    const context = await browser.newContext({ bypassCSP: true });
    const anonymous = await context.newPage();
    await anonymous.goto(`${app.url}/ui/images/debian-12`);
    const versions = anonymous.locator('table.versions tbody tr th');
    await expect(textsOf(versions)).resolves.toEqual(['20261202', '20261201']);
    await context.close();

    const signedIn = await browser.newContext({ bypassCSP: true });
    const page = await signIn(signedIn, app.url, writerToken);
    await page.goto(`${app.url}/ui/images/debian-12`);
    const rows = page.locator('table.versions tbody tr');
    await expect(textsOf(rows.locator('th'))).resolves.toEqual([
      '20261203',
      '20261202',
      '20261201',
    ]);
    await expect(rows.nth(0).locator('.badge').textContent()).resolves.toBe('draft');
    await expect(rows.nth(1).locator('.badge').textContent()).resolves.toBe('published');
    await expect(rows.nth(1).textContent()).resolves.toContain('latest');
    await expect(page.locator('dl.facts').textContent()).resolves.toMatch(/Storage.*KiB|MiB/s);
    await shot(page, 'image');
    expect(await accessibilityProblems(page)).toEqual([]);

    // The markup in a title is shown as text.
    await page.goto(`${app.url}/ui/images/odd-title`);
    await expect(page.locator('h1').innerText()).resolves.toBe(
      '<img src=x onerror="document.title=1">',
    );
    await expect(page.title()).resolves.not.toBe('1');
    await signedIn.close();
  });

  it('shows a version with its digests, fingerprints, downloads and Incus commands', async () => {
    // Over the HTTPS listener, as Incus hosts reach it: the remote is the address of the page.
    const context = await browser.newContext({ bypassCSP: true, ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const base = app.server.urls.https as string;
    await page.goto(`${base}/ui/images/debian-12/versions/20261202`);
    const { meta, root } = files['debian-12/20261202'] as { meta: FixtureFile; root: FixtureFile };
    const digests = await textsOf(page.locator('code.digest'));
    expect(digests).toEqual(expect.arrayContaining([root.sha256, meta.sha256]));
    await expect(page.locator('.bytes').first().textContent()).resolves.toBe(String(root.size));
    const fingerprint = await combinedFingerprint(meta.path, root.path);
    await expect(textsOf(page.locator('code.fingerprint'))).resolves.toEqual([fingerprint]);
    const commands = await textsOf(page.locator('.cmd code'));
    expect(commands).toEqual([
      `incus remote add imgsrv ${base} --protocol=simplestreams --public`,
      'incus launch imgsrv:debian-12/latest my-instance',
    ]);
    await shot(page, 'version');
    expect(await accessibilityProblems(page)).toEqual([]);

    // The download link serves the artifact's bytes.
    const href = await page.locator('.artifact dd a[download]').first().getAttribute('href');
    const download = await page.request.get(`${base}${href}`);
    expect(download.status()).toBe(200);
    expect(
      createHash('sha256')
        .update(await download.body())
        .digest('hex'),
    ).toBe(sha256Hex(root));
    await context.close();
  });

  it('shows a publish started through the API appearing and finishing live', async () => {
    const context = await browser.newContext({ bypassCSP: true });
    const page = await signIn(context, app.url, writerToken);
    await page.goto(`${app.url}/ui/jobs`);
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const meta = await makeIncusMetadata(fixtures, {
      architecture: 'x86_64',
      os: 'Ubuntu',
      release: 'noble',
      variant: 'default',
      type: 'container',
      serial: '20261204_01:00',
    });
    const root = await makeSquashfs(fixtures, { seed: 9 });
    await composeDraft(app, writer, 'ubuntu-noble', '20261204', [
      { format: 'squashfs', root, metadata: meta, architecture: 'x86_64' },
    ]);
    const job = await api(app, 'POST', publishPath('ubuntu-noble', '20261204'), writer);
    const row = page.locator(`tr[data-job="${job.body.id as string}"]`);
    await row.waitFor({ timeout: 60_000 });
    // Browser-side expressions are strings: this file is compiled without the DOM's types.
    await page.waitForFunction(
      `document.querySelector('tr[data-job="${job.body.id as string}"] .badge')?.textContent === 'succeeded'`,
      undefined,
      { timeout: 120_000 },
    );
    expect(
      await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded),
    ).toBe(true);
    await shot(page, 'jobs');
    expect(await accessibilityProblems(page)).toEqual([]);

    // The job's own page: the step timeline, every step succeeded.
    await row.locator('a').click();
    await page.waitForURL(`${app.url}/ui/jobs/${job.body.id as string}`);
    await expect(textsOf(page.locator('.timeline .badge'))).resolves.toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    await shot(page, 'job');
    expect(await accessibilityProblems(page)).toEqual([]);
    await context.close();
  }, 180_000);

  it('reads the audit log for auth managers only', async () => {
    const manager = await browser.newContext({ bypassCSP: true });
    const page = await signIn(manager, app.url, app.bootstrapToken);
    await page.getByRole('link', { name: 'Audit log' }).click();
    await expect(page.locator('table.audit').textContent()).resolves.toContain('ui.sign_in');
    await shot(page, 'audit');
    expect(await accessibilityProblems(page)).toEqual([]);
    await manager.close();

    const writerContext = await browser.newContext();
    const writerPage = await signIn(writerContext, app.url, writerToken);
    await expect(writerPage.getByRole('link', { name: 'Audit log' }).count()).resolves.toBe(0);
    const refused = await writerPage.goto(`${app.url}/ui/audit`);
    expect(refused?.status()).toBe(403);
    await writerContext.close();
  });

  it('fits a phone screen', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    for (const [name, path] of [
      ['phone-images', '/ui'],
      ['phone-version', '/ui/images/debian-12/versions/20261202'],
    ] as const) {
      await page.goto(`${app.url}${path}`);
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await shot(page, name);
    }
    await context.close();
  });

  it('answers malformed requests with a 4xx page, never a 5xx', async () => {
    const nulCursor = Buffer.from(JSON.stringify(['\u0000'])).toString('base64url');
    const cases: [string, Parameters<TestApp['fetch']>[1], number][] = [
      ['/ui/images/%00', {}, 404],
      ['/ui/images/Bad%20Name', {}, 404],
      ['/ui/images/debian-12/versions/%00', {}, 404],
      ['/ui?q=%00', {}, 400],
      ['/ui?cursor=garbage', {}, 400],
      [`/ui?cursor=${nulCursor}`, {}, 400],
      ['/ui/images/debian-12?cursor=garbage', {}, 400],
      ['/ui/jobs/not-a-uuid', {}, 401],
      ['/ui/audit', {}, 401],
      ['/ui/assets/nope.css', {}, 404],
      ['/ui/images/debian-12/versions/20261202/artifacts/nope/download/x', {}, 404],
      [
        '/ui/sign-in',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
        415,
      ],
      [
        '/ui/sign-in',
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `token=${'x'.repeat(20_000)}`,
        },
        413,
      ],
      [
        '/ui/sign-out',
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'csrf=x',
        },
        403,
      ],
    ];
    for (const [path, init, status] of cases) {
      const res = await app.fetch(path, init);
      await res.arrayBuffer();
      expect([path, res.status]).toEqual([path, status]);
    }
    // Random paths and queries under /ui: every answer below 500.
    const segment = fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          '/ui/images/',
          '/ui/images/debian-12/versions/',
          '/ui/jobs/',
          '/ui?q=',
          '/ui?cursor=',
          '/ui/jobs?state=',
          '/ui/audit?action=',
        ),
        segment,
        async (prefix, value) => {
          const res = await app.fetch(`${prefix}${value}`, {
            headers: { cookie: `imgsrv_ui_session=${value}` },
          });
          await res.arrayBuffer();
          return res.status < 500;
        },
      ),
      { numRuns: 300 },
    );
  });

  describe('a private server', () => {
    let privateApp: TestApp;
    let debianReaderToken: string;

    beforeAll(async () => {
      privateApp = await startTestApp({ env: { IMGSRV_PUBLIC_READ: 'false' } });
      const w = await issueIdentity(privateApp, 'content-writer');
      for (const name of ['secret-one', 'secret-two'])
        expect((await api(privateApp, 'POST', '/v1/images', w.headers, { name })).status).toBe(201);
      debianReaderToken = (await issueIdentity(privateApp, 'reader', ['secret-one'])).token;
    }, 120_000);
    afterAll(async () => {
      await privateApp?.close();
    });

    it('shows nothing to anonymous visitors, and a scoped reader only its images', async () => {
      const context = await browser.newContext({ bypassCSP: true });
      const page = await context.newPage();
      await page.goto(`${privateApp.url}/ui`);
      const html = await page.content();
      expect(html).toContain('This server is private');
      expect(html).not.toContain('secret-');
      expect((await page.goto(`${privateApp.url}/ui/images/secret-one`))?.status()).toBe(404);
      await shot(page, 'private-anonymous');
      expect(await accessibilityProblems(page)).toEqual([]);

      // A wrong token: refused, no session.
      await page.goto(`${privateApp.url}/ui/sign-in`);
      await page.getByLabel('API token').fill('imgsrv_nottherightone');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect(page.getByRole('alert').textContent()).resolves.toContain('not valid');
      await shot(page, 'sign-in-refused');
      expect(await accessibilityProblems(page)).toEqual([]);
      expect(await context.cookies()).toEqual([]);

      const reader = await signIn(context, privateApp.url, debianReaderToken);
      const names = await textsOf(reader.locator('table.images tbody th a'));
      expect(names).toEqual(['secret-one']);
      expect(await reader.content()).not.toContain('secret-two');
      expect((await reader.goto(`${privateApp.url}/ui/images/secret-two`))?.status()).toBe(404);
      expect((await reader.goto(`${privateApp.url}/ui/images/secret-one`))?.status()).toBe(200);

      // The session cookie: HttpOnly, SameSite=Strict, only under /ui, never seen by scripts.
      const [cookie] = await context.cookies();
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
      expect(await reader.evaluate<string>('document.cookie')).toBe('');
      expect(
        await reader.evaluate<string>(
          'JSON.stringify(localStorage) + JSON.stringify(sessionStorage)',
        ),
      ).toBe('{}{}');

      // A form posted from another site is refused, and the session stays.
      const forged = await fetch(`${privateApp.url}/ui/sign-out`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: 'https://evil.example',
          cookie: `${cookie?.name}=${cookie?.value}`,
        },
        body: 'csrf=guess',
        redirect: 'manual',
      });
      expect(forged.status).toBe(403);

      await reader.getByRole('button', { name: 'Sign out' }).click();
      await reader.waitForURL(`${privateApp.url}/ui`);
      expect(await reader.content()).toContain('This server is private');
      expect(await context.cookies()).toEqual([]);
      // The old cookie no longer opens a session: signing out deleted it on the server.
      const replay = await fetch(`${privateApp.url}/ui/images/secret-one`, {
        headers: { cookie: `${cookie?.name}=${cookie?.value}` },
      });
      expect(replay.status).toBe(404);
      await context.close();
    });

    it('ends a session when its token is revoked, and never lets it outlive the session TTL', async () => {
      const reader = await issueIdentity(privateApp, 'reader', ['secret-one']);
      const context = await browser.newContext();
      const page = await signIn(context, privateApp.url, reader.token);
      expect(await textsOf(page.locator('table.images tbody th a'))).toEqual(['secret-one']);
      const [cookie] = await context.cookies();
      // The session ends with the token (issued for an hour here), before the 8 h session TTL.
      const hours = ((cookie?.expires ?? 0) - Date.now() / 1000) / 3600;
      expect(hours).toBeGreaterThan(0.9);
      expect(hours).toBeLessThanOrEqual(1);
      const revoked = await privateApp.fetch(`/v1/auth/api-tokens/${reader.tokenId}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${privateApp.bootstrapToken}` },
      });
      expect(revoked.status).toBeLessThan(300);
      await page.reload();
      expect(await page.content()).toContain('This server is private');
      expect(await page.content()).not.toContain('secret-one');
      await context.close();
    });

    it('marks the session cookie Secure over HTTPS', async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const base = privateApp.server.urls.https as string;
      const page = await signIn(context, base, debianReaderToken);
      expect(await textsOf(page.locator('table.images tbody th a'))).toEqual(['secret-one']);
      const [cookie] = await context.cookies();
      expect(cookie).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict' });
      await context.close();
    });
  });
});
