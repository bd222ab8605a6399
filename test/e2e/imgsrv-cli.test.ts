import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { issueIdentity } from '../support/auth';
import { bytesReceived, cliEnv, incus, runCli, startCli, CLI } from '../support/cli';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  makeSquashfs,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { metric } from '../support/processes';
import { startTestApp, type TestApp } from '../support/test-app';

const exec = promisify(execFile);
const combined = async (meta: FixtureFile, root: FixtureFile) =>
  createHash('sha256')
    .update(await readFile(meta.path))
    .update(await readFile(root.path))
    .digest('hex');

describe('the imgsrv CLI against a real server', () => {
  let app: TestApp;
  let fixtures: string;
  let home: string;
  let token: string;
  let env: NodeJS.ProcessEnv;
  const meta = (type: 'container' | 'virtual-machine', serial: string) =>
    makeIncusMetadata(fixtures, {
      architecture: 'x86_64',
      os: 'Debian',
      release: '12',
      variant: 'default',
      type,
      serial,
      description: `Debian 12 ${type} ${serial}`,
    });

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    home = await mkdtemp(join(tmpdir(), 'imgsrv-cli-home-'));
    app = await startTestApp({ env: { IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms' } });
    token = (await issueIdentity(app, 'content-writer')).token;
    env = cliEnv(home, app, token);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await rm(home, { recursive: true, force: true });
    await removeFixtureDir(fixtures);
  });

  it('pushes a VM and a container image with --publish --alias latest, and incus lists and exports them', async () => {
    const vmMeta = await meta('virtual-machine', '1');
    const qcow2 = await makeQcow2(fixtures, { seed: 'cli-vm' });
    const ctMeta = await meta('container', '1');
    const squashfs = await makeSquashfs(fixtures, { seed: 'cli-ct' });

    const vm = await runCli(
      [
        'push',
        'debian-vm',
        '20261123',
        '--metadata',
        vmMeta.path,
        '--disk',
        qcow2.path,
        '--publish',
        '--alias',
        'latest',
      ],
      env,
    );
    expect(vm.stderr).toMatch(/finalize_publish/);
    expect(vm.code).toBe(0);
    expect(vm.stdout).toMatch(/pushed debian-vm 20261123 \(qcow2, amd64, default\), published/);
    const ct = await runCli(
      [
        'push',
        'debian-ct',
        '20261123',
        '--metadata',
        ctMeta.path,
        '--rootfs',
        squashfs.path,
        '--publish',
        '--alias',
        'latest',
        '--json',
      ],
      env,
    );
    expect(ct.code).toBe(0);
    const report = JSON.parse(ct.stdout);
    expect(report.publish_job.state).toBe('succeeded');
    expect(report.aliases.map((a: any) => a.alias)).toEqual(['latest']);
    expect(report.uploads.map((u: any) => u.digest)).toEqual([squashfs.sha256, ctMeta.sha256]);

    // Each file fits one part: each went in one request (PUT /v1/blobs/{digest}), no session.
    expect(
      await metric(
        app,
        'imgsrv_http_requests_total{method="PUT",route="/v1/blobs/:digest",status="201"}',
      ),
    ).toBe(4);
    expect(
      await metric(
        app,
        'imgsrv_http_requests_total{method="POST",route="/v1/uploads",status="201"}',
      ),
    ).toBeUndefined();

    // The image took its description from metadata.yaml.
    const shown = await runCli(['show', 'debian-ct', '--json'], env);
    expect(JSON.parse(shown.stdout).image.description).toBe('Debian 12 container 1');

    const conf = await mkdtemp(join(tmpdir(), 'imgsrv-incus-'));
    try {
      const cert = app.server.tlsCertFile as string;
      await incus(conf, cert, [
        'remote',
        'add',
        't',
        app.server.urls.https as string,
        '--protocol=simplestreams',
        '--public',
      ]);
      const images = JSON.parse(await incus(conf, cert, ['image', 'list', 't:', '--format=json']));
      const byFingerprint = new Map<string, any>(images.map((i: any) => [i.fingerprint, i]));
      expect(
        byFingerprint.get(await combined(vmMeta, qcow2))?.aliases.map((a: any) => a.name),
      ).toContain('debian-vm/latest');
      expect(
        byFingerprint.get(await combined(ctMeta, squashfs))?.aliases.map((a: any) => a.name),
      ).toContain('debian-ct/latest');
      const out = join(conf, 'export');
      await incus(conf, cert, ['image', 'export', 't:debian-vm/latest', out, '--vm']);
      const files = await readdir(conf);
      const exported = files.filter((f) => f.startsWith('export'));
      const bytes = await Promise.all(exported.map((f) => readFile(join(conf, f))));
      const digests = bytes.map((b) => `sha256:${createHash('sha256').update(b).digest('hex')}`);
      expect(digests.sort()).toEqual([vmMeta.sha256, qcow2.sha256].sort());
    } finally {
      await rm(conf, { recursive: true, force: true });
    }

    // Pushing the same again moves no bytes and changes nothing.
    const before = await bytesReceived(app);
    const again = await runCli(
      [
        'push',
        'debian-vm',
        '20261123',
        '--metadata',
        vmMeta.path,
        '--disk',
        qcow2.path,
        '--publish',
        '--alias',
        'latest',
      ],
      env,
    );
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already on the server/);
    expect(await bytesReceived(app)).toBe(before);
  }, 180_000);

  it('tells usage, auth, client and server errors apart by exit code, and prints problems readably', async () => {
    expect((await runCli([], env)).code).toBe(2);
    expect((await runCli(['push', 'x'], env)).code).toBe(2);
    expect((await runCli(['ls', '--no-such-flag'], env)).code).toBe(2);
    const noFile = await runCli(
      ['push', 'x', '1', '--metadata', '/nonexistent/incus.tar.xz', '--disk', '/nonexistent/d'],
      env,
    );
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/no such file: \/nonexistent\/incus.tar.xz/);
    const denied = await runCli(['whoami'], { ...env, IMGSRV_TOKEN: 'imgsrv_nope_nope' });
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/401 /);
    const missing = await runCli(['show', 'no-such-image', '--json'], env);
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stdout).error).toMatchObject({
      status: 404,
      code: expect.any(String),
    });
    expect(missing.stderr).toMatch(/request id: /);
    const down = await runCli(['ls'], { ...env, IMGSRV_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(5);
  });

  it('resumes an upload killed halfway: the second run sends fewer bytes', async () => {
    // ~24 MiB of incompressible data: five parts of 5 MiB, sent at 8 MiB/s one at a time.
    const big = await makeQcow2(fixtures, {
      seed: 'cli-big',
      virtualSizeMiB: 64,
      dataBytes: 12 * 1024 * 1024,
    });
    const vmMeta = await meta('virtual-machine', 'big');
    const args = [
      'push',
      'debian-big',
      '1',
      '--metadata',
      vmMeta.path,
      '--disk',
      big.path,
      '--part-size',
      '5M',
      '--parallel',
      '1',
      '--limit-rate',
      '8M',
    ];
    const start = await bytesReceived(app);
    const first = startCli(args, env);
    // Killed as soon as the first part is on the server (a plain progress line says so).
    await new Promise<void>((res, rej) => {
      const check = () => {
        if (/disk\.qcow2: .*\(\d+%\)/.test(first.output.stderr)) {
          first.kill('SIGKILL');
          res();
        }
      };
      first.stderr?.on('data', check);
      first.on('close', () =>
        rej(new Error(`the push ended before it was killed: ${first.output.stderr}`)),
      );
    });
    await first.done;
    const afterKill = await bytesReceived(app);
    const firstRun = afterKill - start;
    expect(firstRun).toBeGreaterThanOrEqual(5 * 1024 * 1024);
    expect(firstRun).toBeLessThan(big.size);

    const second = await runCli([...args, '--limit-rate', '0', '--json'], env);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/resuming upload .*: \d+ of 5 parts already on the server/);
    const secondRun = (await bytesReceived(app)) - afterKill;
    // The disk's remaining parts and the small metadata tarball: less than the disk alone.
    expect(secondRun).toBeLessThan(big.size);
    const uploads = JSON.parse(second.stdout).uploads;
    expect(uploads[0]).toMatchObject({ digest: big.sha256, outcome: 'resumed' });
    // What the CLI says it sent agrees: at least one 5 MiB part fewer than the whole disk.
    expect(uploads[0].sent_bytes).toBeGreaterThan(0);
    expect(uploads[0].sent_bytes).toBeLessThanOrEqual(big.size - 5 * 1024 * 1024);
    const shown = JSON.parse((await runCli(['show', 'debian-big/1', '--json'], env)).stdout);
    expect(shown.artifacts[0].artifact.primary_blob_digest).toBe(big.sha256);
  }, 120_000);

  it('redraws a progress bar in a terminal and prints plain lines in a pipe', async () => {
    const file = await makeQcow2(fixtures, {
      seed: 'cli-progress',
      virtualSizeMiB: 32,
      dataBytes: 6 * 1024 * 1024,
    });
    const vmMeta = await meta('virtual-machine', 'progress');
    const piped = await runCli(
      [
        'push',
        'debian-progress',
        'piped',
        '--metadata',
        vmMeta.path,
        '--disk',
        file.path,
        '--part-size',
        '5M',
        '--parallel',
        '1',
      ],
      env,
    );
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain('\r');
    const lines = piped.stderr.split('\n').filter((l) => l.startsWith('disk.qcow2: '));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toMatch(/^disk\.qcow2: [\d.]+ MiB \/ [\d.]+ MiB \(100%\), .*\/s, ETA 0s$/);

    // A second image with other bytes, so the bytes move again, under a pseudo-terminal.
    const other = await makeQcow2(fixtures, {
      seed: 'cli-progress-tty',
      virtualSizeMiB: 32,
      dataBytes: 6 * 1024 * 1024,
    });
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const command = [
      process.execPath,
      CLI,
      'push',
      'debian-progress',
      'tty',
      '--metadata',
      vmMeta.path,
      '--disk',
      other.path,
      '--part-size',
      '5M',
      '--parallel',
      '1',
      '--publish',
    ]
      .map(q)
      .join(' ');
    const { stdout: typescript } = await exec('script', ['-qfec', command, '/dev/null'], {
      env: { ...env, TERM: 'xterm' },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const redraws = typescript.split('\r\x1b[K').filter((s) => s.startsWith('disk.qcow2 ['));
    expect(redraws.length).toBeGreaterThanOrEqual(2);
    expect(redraws.at(-1)).toMatch(/^disk\.qcow2 \[#+\] 100%/);
    // The publish steps are drawn in place too, ending with every step done.
    expect(typescript).toContain('\r\x1b[K  succeeded finalize_publish');
    expect(typescript).toMatch(/pushed debian-progress tty .*published/);
  }, 120_000);

  it('logs in to a config file, and manages drafts, jobs, aliases and tokens', async () => {
    const own = await mkdtemp(join(tmpdir(), 'imgsrv-cli-login-'));
    try {
      const bare = { PATH: process.env.PATH, HOME: own, XDG_CONFIG_HOME: join(own, 'xdg') };
      const login = await runCli(['login', '--url', app.url, '--token', token], bare);
      expect(login.code).toBe(0);
      const file = join(own, 'xdg', 'imgsrv', 'config.json');
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ url: app.url, token });
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const me = await runCli(['whoami', '--json'], bare);
      expect(me.code).toBe(0);
      expect(JSON.stringify(JSON.parse(me.stdout))).toContain('content-writer');
      expect((await runCli(['login', '--url', app.url, '--token', 'imgsrv_x_y'], bare)).code).toBe(
        3,
      );

      // A draft pushed without --publish, published later without waiting, then watched.
      const ctMeta = await meta('container', 'jobs');
      const squashfs = await makeSquashfs(fixtures, { seed: 'cli-jobs' });
      const pushed = await runCli(
        ['push', 'debian-jobs', 'v1', '--metadata', ctMeta.path, '--rootfs', squashfs.path],
        bare,
      );
      expect(pushed.code).toBe(0);
      const draft = JSON.parse((await runCli(['show', 'debian-jobs/v1', '--json'], bare)).stdout);
      expect(draft.version.state).toBe('draft');
      const queued = await runCli(['publish', 'debian-jobs/v1', '--no-wait', '--json'], bare);
      expect(queued.code).toBe(0);
      const jobId = JSON.parse(queued.stdout).id;
      const watched = await runCli(['job', 'watch', jobId], bare);
      expect(watched.code).toBe(0);
      expect(watched.stdout).toMatch(/succeeded/);
      expect(watched.stderr).toMatch(/succeeded +finalize_publish/);
      expect((await runCli(['job', 'cancel', jobId], bare)).code).toBe(4);

      expect((await runCli(['alias', 'set', 'debian-jobs/v1', 'stable'], bare)).code).toBe(0);
      const aliases = JSON.parse(
        (await runCli(['alias', 'ls', 'debian-jobs', '--json'], bare)).stdout,
      );
      expect(aliases.map((a: any) => `${a.alias} ${a.version}`)).toEqual(['stable v1']);
      const byAlias = JSON.parse(
        (await runCli(['show', 'debian-jobs/stable', '--json'], bare)).stdout,
      );
      expect(byAlias.version.version).toBe('v1');
      expect((await runCli(['alias', 'rm', 'debian-jobs/stable'], bare)).code).toBe(0);
      expect(
        JSON.parse((await runCli(['alias', 'ls', 'debian-jobs', '--json'], bare)).stdout),
      ).toEqual([]);

      // Tokens need auth.manage: the writer is refused, the bootstrap auth-manager may.
      const principal = (await issueIdentity(app, 'reader')).principalId;
      expect((await runCli(['token', 'create', principal], bare)).code).toBe(3);
      const admin = { ...bare, IMGSRV_TOKEN: app.bootstrapToken };
      const created = await runCli(
        ['token', 'create', principal, '--name', 'ci', '--expires', '7d'],
        admin,
      );
      expect(created.code).toBe(0);
      const plaintext = created.stdout.trim();
      expect(plaintext).toMatch(/^imgsrv_/);
      expect((await runCli(['whoami'], { ...bare, IMGSRV_TOKEN: plaintext })).code).toBe(0);
      const tokenId = /token (\S+),/.exec(created.stderr)?.[1] as string;
      expect((await runCli(['token', 'revoke', tokenId], admin)).code).toBe(0);
      expect((await runCli(['whoami'], { ...bare, IMGSRV_TOKEN: plaintext })).code).toBe(3);
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  }, 120_000);
});
