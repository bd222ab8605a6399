import { readFile } from 'node:fs/promises';
import { api } from '../support/catalog';
import { issueIdentity } from '../support/auth';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeBootableSquashfs,
  makeQcow2,
  removeFixtureDir,
} from '../support/fixtures';
import { IncusDaemon } from '../support/incus-daemon';
import {
  combinedFingerprint,
  composeDraft,
  publishPath,
  waitForJob,
  type ArtifactSpec,
} from '../support/publish';
import { startTestApp, type TestApp } from '../support/test-app';
import {
  clientAliases,
  clientImages,
  getImageAliasType,
  type ProductsDocument,
} from '../../src/streams/incus-resolution';

describe('the real Incus daemon against imgsrv', () => {
  let fixtures: string;
  let app: TestApp;
  let daemon: IncusDaemon;
  let headers: Record<string, string>;
  const builds: Record<
    string,
    { ct?: ArtifactSpec; vm?: ArtifactSpec; ctFp?: string; vmFp?: string }
  > = {};

  const publish = async (version: string, specs: ArtifactSpec[]) => {
    await composeDraft(app, headers, 'demo', version, specs);
    const job = await api(app, 'POST', publishPath('demo', version), headers);
    expect(job.status).toBe(202);
    await waitForJob(app, headers, job.body.id, 'succeeded');
  };
  const alias = async (name: string, version: string) =>
    expect(
      (await api(app, 'PUT', `/v1/images/demo/aliases/${name}`, headers, { version })).status,
    ).toBe(200);
  const localImages = async () =>
    JSON.parse(await daemon.incus(['image', 'list', 'local:', '--format=json'])) as {
      fingerprint: string;
      type: string;
      update_source?: { alias: string };
    }[];

  /** `incus image refresh` of every local image; one whose alias no longer has its type may fail. */
  const refreshAll = async () => {
    await daemon.ageStreamsCache('daemon', 61 * 60_000);
    for (const image of await localImages())
      await daemon.incus(['image', 'refresh', image.fingerprint]).catch(() => undefined);
  };

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    const meta = (type: 'container' | 'virtual-machine', creationDate: number) =>
      makeIncusMetadata(fixtures, {
        architecture: 'x86_64',
        os: 'Demo',
        release: '1',
        variant: 'default',
        type,
        creationDate,
      });
    // c1 and vm1 ship in v1; v2 ships c1 again with a new VM (vm2); v3 ships only a new container.
    for (const [name, date] of [
      ['1', 1764000000],
      ['2', 1764086400],
      ['3', 1764172800],
    ] as const) {
      const ctMeta = await meta('container', date);
      const vmMeta = await meta('virtual-machine', date);
      const ct = await makeBootableSquashfs(fixtures, name);
      const qcow2 = await makeQcow2(fixtures, { seed: Number(name) });
      builds[name] = {
        ct: { format: 'squashfs', root: ct, metadata: ctMeta, architecture: 'x86_64' },
        vm: { format: 'qcow2', root: qcow2, metadata: vmMeta, architecture: 'x86_64' },
        ctFp: await combinedFingerprint(ctMeta.path, ct.path),
        vmFp: await combinedFingerprint(vmMeta.path, qcow2.path),
      };
    }
    app = await startTestApp({ env: { IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms' } });
    headers = (await issueIdentity(app, 'content-writer')).headers;
    await publish('v1', [builds['1'].ct!, builds['1'].vm!]);
    await publish('v2', [builds['1'].ct!, builds['2'].vm!]);
    await publish('v3', [builds['3'].ct!]);
    await alias('latest', 'v1');
    daemon = await IncusDaemon.start();
    await daemon.addRemote(
      'imgsrv',
      app.server.urls.https as string,
      await readFile(app.server.tlsCertFile as string, 'utf8'),
    );
  }, 600_000);

  afterAll(async () => {
    await daemon?.stop();
    await app?.close();
    if (fixtures) await removeFixtureDir(fixtures);
  }, 300_000);

  it('resolves names as the client model says, and a version without a VM has none', async () => {
    const doc = (await (await app.fetch('/streams/v1/images.json')).json()) as ProductsDocument;
    const list = clientAliases(clientImages(doc));
    const cases: [string, string][] = [
      ['demo/latest', ''],
      ['demo/latest', 'virtual-machine'],
      ['demo/v2', ''],
      ['demo/v2', 'virtual-machine'],
      ['demo/v2/amd64', 'virtual-machine'],
      ['demo/v3', ''],
    ];
    for (const [name, type] of cases) {
      const info = await daemon.incus([
        'image',
        'info',
        `imgsrv:${name}`,
        ...(type ? ['--vm'] : []),
      ]);
      expect(info).toContain(`Fingerprint: ${getImageAliasType(list, type, name).target}`);
    }
    expect(getImageAliasType(list, 'virtual-machine', 'demo/v2').target).toBe(builds['2'].vmFp);
    expect(getImageAliasType(list, '', 'demo/v2').target).toBe(builds['1'].ctFp);
    await expect(daemon.incus(['image', 'info', 'imgsrv:demo/v3', '--vm'])).rejects.toThrow(
      /couldn't be found|doesn't exist/i,
    );
  });

  it('shows a moved alias to the client once its five-minute document cache runs out', async () => {
    const info = () => daemon.incus(['image', 'info', 'imgsrv:demo/latest', '--vm']);
    expect(await info()).toContain(`Fingerprint: ${builds['1'].vmFp}`);
    await alias('latest', 'v2');
    // imgsrv serves the move at once; the client keeps the documents it read for five minutes.
    const served = (await (await app.fetch('/streams/v1/images.json')).json()) as ProductsDocument;
    expect(
      getImageAliasType(clientAliases(clientImages(served)), 'virtual-machine', 'demo/latest')
        .target,
    ).toBe(builds['2'].vmFp);
    await daemon.ageStreamsCache('client', 4 * 60_000);
    expect(await info()).toContain(`Fingerprint: ${builds['1'].vmFp}`);
    await daemon.ageStreamsCache('client', 5 * 60_000 + 10_000);
    expect(await info()).toContain(`Fingerprint: ${builds['2'].vmFp}`);
    await alias('latest', 'v1');
    await daemon.ageStreamsCache('client', 10 * 60_000);
  });

  it('copies the container and the VM image by alias; the daemon verifies their fingerprints', async () => {
    await daemon.incus(['image', 'copy', 'imgsrv:demo/latest', 'local:', '--auto-update']);
    await daemon.incus(['image', 'copy', 'imgsrv:demo/latest', 'local:', '--vm', '--auto-update']);
    const fingerprints = (await localImages()).map((i) => i.fingerprint).sort();
    expect(fingerprints).toEqual([builds['1'].ctFp, builds['1'].vmFp].sort());
  });

  it('launches the container and runs a command inside it', async () => {
    await daemon.incus(['launch', `local:${builds['1'].ctFp}`, 'c1']);
    expect((await daemon.incus(['exec', 'c1', '--', 'cat', '/etc/imgsrv-build'])).trim()).toBe('1');
    await daemon.incus(['delete', '--force', 'c1']);
  });

  it('follows a moved alias on refresh, only ever forwards', async () => {
    // v2 ships the same container as v1 and a new VM: the container stays, the VM moves on.
    await alias('latest', 'v2');
    // Within the hour the daemon keeps the documents it read at the copy, a refresh sees no move.
    for (const image of await localImages())
      await daemon.incus(['image', 'refresh', image.fingerprint]);
    expect((await localImages()).map((i) => i.fingerprint).sort()).toEqual(
      [builds['1'].ctFp, builds['1'].vmFp].sort(),
    );
    await refreshAll();
    expect((await localImages()).map((i) => i.fingerprint).sort()).toEqual(
      [builds['1'].ctFp, builds['2'].vmFp].sort(),
    );
    // v3 ships a new container and no VM: the container moves on; the VM has nothing to move to
    // and stays where it was, never back to v1's.
    await alias('latest', 'v3');
    await refreshAll();
    const after = (await localImages()).map((i) => i.fingerprint).sort();
    expect(after).toEqual([builds['3'].ctFp, builds['2'].vmFp].sort());
    expect(after).not.toContain(builds['1'].vmFp);
    await daemon.incus(['launch', `local:${builds['3'].ctFp}`, 'c3']);
    expect((await daemon.incus(['exec', 'c3', '--', 'cat', '/etc/imgsrv-build'])).trim()).toBe('3');
    await daemon.incus(['delete', '--force', 'c3']);
  });
});
