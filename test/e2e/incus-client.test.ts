import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '../support/test-app';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { uploadBlob } from '../support/uploads';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  makeSquashfs,
  removeFixtureDir,
} from '../support/fixtures';
import { cliEnv, incus as runIncus, runCli } from '../support/cli';
import { metric } from '../support/processes';

interface Fixture {
  path: string;
  sha256: string;
  size: number;
}

/** The real `incus` client with a throwaway config and cache, trusting the app's certificate. */
const incus = (app: TestApp, conf: string, args: string[]): Promise<string> =>
  runIncus(conf, app.server.tlsCertFile ?? '', args);

const combined = async (meta: Fixture, root: Fixture) =>
  createHash('sha256')
    .update(await readFile(meta.path))
    .update(await readFile(root.path))
    .digest('hex');

async function waitPublished(
  app: TestApp,
  headers: Record<string, string>,
  jobId: string,
): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const job = await api(app, 'GET', `/v1/publish-jobs/${jobId}`, headers);
    if (job.body.state === 'succeeded') return;
    if (job.body.state === 'failed') throw new Error(`publish failed: ${JSON.stringify(job.body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('publish did not finish');
}

/** Uploads and publishes one version with a VM and a container artifact, each with its metadata. */
async function publishVersion(
  app: TestApp,
  headers: Record<string, string>,
  version: string,
  files: { vmMeta: Fixture; qcow2: Fixture; ctMeta: Fixture; squashfs: Fixture },
): Promise<void> {
  for (const f of Object.values(files)) await uploadBlob(app, headers, f.path);
  expect(
    (await api(app, 'POST', '/v1/images/debian-12/versions', headers, { version })).status,
  ).toBe(201);
  const base = `/v1/images/debian-12/versions/${version}/artifacts`;
  for (const [format, root, meta, media] of [
    ['qcow2', files.qcow2, files.vmMeta, 'application/x-qemu-disk'],
    ['squashfs', files.squashfs, files.ctMeta, 'application/vnd.squashfs'],
  ] as const) {
    const artifact = await api(app, 'POST', base, headers, {
      operating_system: 'debian',
      architecture: 'x86_64',
      format,
      primary_blob_digest: root.sha256,
      primary_blob_size_bytes: root.size,
      primary_media_type: media,
    });
    expect(artifact.status).toBe(201);
    const attachment = await api(app, 'POST', `${base}/${artifact.body.id}/attachments`, headers, {
      name: 'incus.tar.xz',
      media_type: 'application/x-xz',
      blob_digest: meta.sha256,
      blob_size_bytes: meta.size,
    });
    expect(attachment.status).toBe(201);
  }
  const job = await api(app, 'POST', `/v1/images/debian-12/versions/${version}/publish`, headers);
  expect(job.status).toBe(202);
  await waitPublished(app, headers, job.body.id);
}

describe('the real Incus client', () => {
  let fixtures: string;
  let app: TestApp;
  let headers: Record<string, string>;
  let v1: { vmMeta: Fixture; qcow2: Fixture; ctMeta: Fixture; squashfs: Fixture };
  let v2: typeof v1;
  const confs: string[] = [];
  const freshConf = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imgsrv-incus-'));
    confs.push(dir);
    return dir;
  };

  const fastPathAnswered = async () => (await metric(app, 'imgsrv_streams_fast_path_total')) ?? 0;

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    const meta = (type: 'container' | 'virtual-machine', serial: string) =>
      makeIncusMetadata(fixtures, {
        architecture: 'x86_64',
        os: 'Debian',
        release: '12',
        variant: 'default',
        type,
        serial,
      });
    v1 = {
      vmMeta: await meta('virtual-machine', '1'),
      qcow2: await makeQcow2(fixtures, { seed: 1 }),
      ctMeta: await meta('container', '1'),
      squashfs: await makeSquashfs(fixtures, { seed: 1 }),
    };
    v2 = {
      vmMeta: await meta('virtual-machine', '2'),
      qcow2: await makeQcow2(fixtures, { seed: 2 }),
      ctMeta: await meta('container', '2'),
      squashfs: await makeSquashfs(fixtures, { seed: 2 }),
    };
    app = await startTestApp({ env: { IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms' } });
    headers = (await issueIdentity(app, 'content-writer')).headers;
    expect((await api(app, 'POST', '/v1/images', headers, { name: 'debian-12' })).status).toBe(201);
    await publishVersion(app, headers, '20261123', v1);
    await publishVersion(app, headers, '20261124', v2);
    expect(
      (
        await api(app, 'PUT', '/v1/images/debian-12/aliases/latest', headers, {
          version: '20261123',
        })
      ).status,
    ).toBe(200);
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    for (const c of confs) await rm(c, { recursive: true, force: true });
    await removeFixtureDir(fixtures);
  });

  it('lists every published image with its type, architecture and aliases', async () => {
    const answeredBefore = await fastPathAnswered();
    const conf = await freshConf();
    await incus(app, conf, [
      'remote',
      'add',
      't',
      app.server.urls.https as string,
      '--protocol=simplestreams',
      '--public',
    ]);
    const images = JSON.parse(await incus(app, conf, ['image', 'list', 't:', '--format=json'])) as {
      fingerprint: string;
      type: string;
      architecture: string;
      aliases: { name: string }[];
    }[];
    expect(images).toHaveLength(4);
    const byFingerprint = new Map(images.map((i) => [i.fingerprint, i]));
    const ct1 = byFingerprint.get(await combined(v1.ctMeta, v1.squashfs));
    const vm1 = byFingerprint.get(await combined(v1.vmMeta, v1.qcow2));
    expect(ct1).toMatchObject({ type: 'container', architecture: 'x86_64' });
    expect(vm1).toMatchObject({ type: 'virtual-machine', architecture: 'x86_64' });
    expect(ct1?.aliases.map((a) => a.name)).toEqual(
      expect.arrayContaining(['debian-12/latest', 'debian-12/20261123']),
    );
    expect(
      byFingerprint.get(await combined(v2.ctMeta, v2.squashfs))?.aliases.map((a) => a.name),
    ).toEqual(expect.arrayContaining(['debian-12/20261124']));
    // The client's reads of the documents are simple enough for the connection front.
    expect(await fastPathAnswered()).toBeGreaterThan(answeredBefore);
  });

  it('shows the expected fingerprint by alias and exports the uploaded bytes', async () => {
    const conf = await freshConf();
    await incus(app, conf, [
      'remote',
      'add',
      't',
      app.server.urls.https as string,
      '--protocol=simplestreams',
      '--public',
    ]);
    const info = await incus(app, conf, ['image', 'info', 't:debian-12/latest']);
    expect(info).toContain(`Fingerprint: ${await combined(v1.ctMeta, v1.squashfs)}`);
    const vmInfo = await incus(app, conf, ['image', 'info', 't:debian-12/latest', '--vm']);
    expect(vmInfo).toContain(`Fingerprint: ${await combined(v1.vmMeta, v1.qcow2)}`);

    const out = await mkdtemp(join(conf, 'export-'));
    await incus(app, conf, ['image', 'export', 't:debian-12/latest', `${out}/`]);
    const files = (await readdir(out)).sort();
    expect(files).toHaveLength(2);
    const exported = await Promise.all(files.map((f) => readFile(join(out, f))));
    const expected = [await readFile(v1.ctMeta.path), await readFile(v1.squashfs.path)];
    for (const bytes of expected) expect(exported.some((e) => e.equals(bytes))).toBe(true);

    // What Incus exported verifies against the version's signed publication record.
    const verified = await runCli(
      [
        'verify',
        'debian-12',
        '20261123',
        ...files.flatMap((f) => ['--file', join(out, f)]),
        '--incus-fingerprint',
        await combined(v1.ctMeta, v1.squashfs),
      ],
      cliEnv(conf, app),
    );
    expect(verified.stdout).toMatch(/verified\n$/);
    expect(verified.code).toBe(0);
  });

  it('follows a moved alias in a fresh client', async () => {
    expect(
      (
        await api(app, 'PUT', '/v1/images/debian-12/aliases/latest', headers, {
          version: '20261124',
        })
      ).status,
    ).toBe(200);
    const conf = await freshConf();
    await incus(app, conf, [
      'remote',
      'add',
      't',
      app.server.urls.https as string,
      '--protocol=simplestreams',
      '--public',
    ]);
    const info = await incus(app, conf, ['image', 'info', 't:debian-12/latest']);
    expect(info).toContain(`Fingerprint: ${await combined(v2.ctMeta, v2.squashfs)}`);
  });

  it('works as a private remote with a token as the Basic password, and fails without one', async () => {
    const privateApp = await startTestApp({
      database: app.database,
      env: {
        IMGSRV_PUBLIC_READ: 'false',
        IMGSRV_BOOTSTRAP_TOKEN: app.bootstrapToken,
        IMGSRV_DATA_DIR: app.dataDir,
      },
    });
    try {
      const reader = await issueIdentity(privateApp, 'reader');
      const url = new URL(privateApp.server.urls.https as string);
      const withToken = await freshConf();
      await incus(privateApp, withToken, [
        'remote',
        'add',
        'p',
        `https://any:${reader.token}@${url.host}`,
        '--protocol=simplestreams',
        '--public',
      ]);
      const images = JSON.parse(
        await incus(privateApp, withToken, ['image', 'list', 'p:', '--format=json']),
      ) as unknown[];
      expect(images).toHaveLength(4);
      const out = await mkdtemp(join(withToken, 'export-'));
      await incus(privateApp, withToken, ['image', 'export', 'p:debian-12/latest', `${out}/`]);
      expect(await readdir(out)).toHaveLength(2);

      const without = await freshConf();
      await incus(privateApp, without, [
        'remote',
        'add',
        'p',
        `https://${url.host}`,
        '--protocol=simplestreams',
        '--public',
      ]);
      await expect(
        incus(privateApp, without, ['image', 'list', 'p:', '--format=json']),
      ).rejects.toThrow();
    } finally {
      await privateApp.close();
    }
  });
});
