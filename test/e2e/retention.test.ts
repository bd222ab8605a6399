import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { cliEnv, incus, runCli } from '../support/cli';
import { makeFixtureDir, removeFixtureDir } from '../support/fixtures';
import { debianContainerBuild, publishBuild } from '../support/publish';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually } from '../support/waiting';

const DAYS = ['20261201', '20261202', '20261203', '20261204', '20261205', '20261206'];

describe('retention policies', () => {
  let fixtures: string;
  let conf: string;
  let app: TestApp;
  let writer: Record<string, string>;
  let writerToken: string;

  const publish = async (version: string, seed: number) => {
    await publishBuild(
      app,
      writer,
      'daily',
      version,
      await debianContainerBuild(fixtures, `${version}_01:00`, seed),
    );
  };
  const stateOf = async (version: string): Promise<string> =>
    (await api(app, 'GET', `/v1/images/daily/versions/${version}`, writer)).body.version.state;
  /** The aliases a fresh `incus` client lists for the remote's images. */
  const listed = async (): Promise<string[]> => {
    const dir = await mkdtemp(join(conf, 'client-'));
    await incus(dir, app.server.tlsCertFile ?? '', [
      'remote',
      'add',
      't',
      app.server.urls.https as string,
      '--protocol=simplestreams',
      '--public',
    ]);
    const images = JSON.parse(
      await incus(dir, app.server.tlsCertFile ?? '', ['image', 'list', 't:', '--format=json']),
    ) as { aliases: { name: string }[] }[];
    return images.flatMap((i) => i.aliases.map((a) => a.name)).sort();
  };

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    conf = await mkdtemp(join(tmpdir(), 'imgsrv-retention-'));
    app = await startTestApp({
      env: { IMGSRV_RETENTION_INTERVAL: '200ms', IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms' },
    });
    const identity = await issueIdentity(app, 'content-writer');
    writer = identity.headers;
    writerToken = identity.token;
    for (const [i, day] of DAYS.slice(0, 5).entries()) await publish(day, 40 + i);
    expect(
      (await api(app, 'PUT', '/v1/images/daily/aliases/stable', writer, { version: DAYS[1] }))
        .status,
    ).toBe(200);
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    if (conf) await rm(conf, { recursive: true, force: true });
    if (fixtures) await removeFixtureDir(fixtures);
  });

  it('has none until one is set, and refuses policies that keep nothing named', async () => {
    expect((await api(app, 'GET', '/v1/images/daily/retention', writer)).body).toEqual({
      retention: null,
    });
    expect(
      (await api(app, 'GET', '/v1/images/daily/retention/preview', writer)).body.would_withdraw,
    ).toEqual([]);
    for (const body of [{}, { keep_latest: 0 }, { keep_days: -1 }, { keep_latest: 'two' }])
      expect((await api(app, 'PUT', '/v1/images/daily/retention', writer, body)).status).toBe(400);
    const reader = (await issueIdentity(app, 'reader')).headers;
    expect(
      (await api(app, 'PUT', '/v1/images/daily/retention', reader, { keep_latest: 2 })).status,
    ).toBe(403);
    expect((await api(app, 'GET', '/v1/images/nope/retention', writer)).status).toBe(404);
  });

  it('keeps the two newest and the aliased version of five daily builds', async () => {
    expect(await listed()).toEqual(
      expect.arrayContaining(DAYS.slice(0, 5).map((d) => `daily/${d}`)),
    );
    const put = await api(app, 'PUT', '/v1/images/daily/retention', writer, { keep_latest: 2 });
    expect(put.status).toBe(200);
    expect(put.body.retention).toMatchObject({
      keep_latest: 2,
      keep_days: null,
      keep_aliased: true,
    });
    const preview = await api(app, 'GET', '/v1/images/daily/retention/preview', writer);
    // The workers may already have applied it; if not, the preview says what they will do.
    expect([[DAYS[0], DAYS[2]], [DAYS[2]], []]).toContainEqual(preview.body.would_withdraw);

    await eventually('the policy applied', async () =>
      (await stateOf(DAYS[0])) === 'withdrawn' && (await stateOf(DAYS[2])) === 'withdrawn'
        ? true
        : undefined,
    );
    for (const day of [DAYS[1], DAYS[3], DAYS[4]]) expect(await stateOf(day)).toBe('published');
    const withdrawn = await api(app, 'GET', `/v1/images/daily/versions/${DAYS[0]}`, writer);
    expect(withdrawn.body.version.withdrawal).toMatchObject({ reason: 'retention', by: null });
    expect(
      (await api(app, 'GET', '/v1/images/daily/retention/preview', writer)).body.would_withdraw,
    ).toEqual([]);

    const names = await listed();
    for (const day of [DAYS[1], DAYS[3], DAYS[4]]) expect(names).toContain(`daily/${day}`);
    expect(names).toContain('daily/stable');
    for (const day of [DAYS[0], DAYS[2]]) expect(names).not.toContain(`daily/${day}`);
  });

  it('applies again after the next publish, never withdrawing the newest', async () => {
    await publish(DAYS[5], 50);
    await eventually('the policy applied after the publish', async () =>
      (await stateOf(DAYS[3])) === 'withdrawn' ? true : undefined,
    );
    for (const day of [DAYS[1], DAYS[4], DAYS[5]]) expect(await stateOf(day)).toBe('published');
  });

  it('moves aliases to the newest version when aliased versions are not kept', async () => {
    const put = await api(app, 'PUT', '/v1/images/daily/retention', writer, {
      keep_latest: 1,
      keep_aliased: false,
    });
    expect(put.status).toBe(200);
    await eventually('the stricter policy applied', async () =>
      (await stateOf(DAYS[1])) === 'withdrawn' && (await stateOf(DAYS[4])) === 'withdrawn'
        ? true
        : undefined,
    );
    expect(await stateOf(DAYS[5])).toBe('published');
    expect((await api(app, 'GET', '/v1/images/daily/aliases/stable')).body.version).toBe(DAYS[5]);
    expect((await api(app, 'DELETE', '/v1/images/daily/retention', writer)).status).toBe(204);
    expect((await api(app, 'GET', '/v1/images/daily/retention', writer)).body.retention).toBeNull();
  });

  it('is driven from the CLI: retention set, show, preview, rm; withdraw; du', async () => {
    const env = cliEnv(await mkdtemp(join(conf, 'cli-')), app, writerToken);
    const set = await runCli(['retention', 'set', 'daily', '--keep-latest', '4', '--json'], env);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ keep_latest: 4, keep_aliased: true });
    const shown = await runCli(['retention', 'show', 'daily'], env);
    expect(shown.stdout).toContain('keeps the newest 4, aliased ones');
    expect((await runCli(['retention', 'preview', 'daily'], env)).stdout).toContain(
      'nothing would be withdrawn',
    );
    expect((await runCli(['retention', 'set', 'daily'], env)).code).toBe(2);
    expect((await runCli(['retention', 'rm', 'daily'], env)).code).toBe(0);

    // The only published version is the target of "stable": refused, naming the alias.
    const refused = await runCli(['withdraw', 'daily', DAYS[5], '--reason', 'test'], env);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('stable');
    expect((await runCli(['withdraw', 'daily', DAYS[5]], env)).code).toBe(2);

    const du = await runCli(['du', '--json'], env);
    expect(du.code).toBe(0);
    const storage = JSON.parse(du.stdout) as { bytes: number; bytes_unique_by_image: object };
    expect(storage.bytes).toBeGreaterThan(0);
    expect(Object.keys(storage.bytes_unique_by_image)).toEqual(['daily']);
    const notEmpty = await runCli(['rm', 'daily'], env);
    expect(notEmpty.code).toBe(4);
    expect(notEmpty.stderr).toContain('IMAGE_NOT_EMPTY');
    expect((await runCli(['du'], env)).stdout).toMatch(/daily \(its own\)[\s\S]*total/);
  });
});
