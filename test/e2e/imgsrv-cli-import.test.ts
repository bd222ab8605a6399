import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { issueIdentity } from '../support/auth';
import { bytesReceived, cliEnv, incus, runCli } from '../support/cli';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  makeSquashfs,
  removeFixtureDir,
} from '../support/fixtures';
import { startTestApp, type TestApp } from '../support/test-app';

const exec = promisify(execFile);

/** Serves `root` read-only over HTTPS with the app's own certificate (it names 127.0.0.1). */
async function serveTree(root: string, cert: string, key: string): Promise<Server> {
  const server = createServer(
    { cert: await readFile(cert), key: await readFile(key) },
    (req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname));
      const file = join(root, path);
      stat(file).then(
        (s) => {
          if (!s.isFile()) throw new Error('not a file');
          res.writeHead(200, { 'content-length': s.size });
          createReadStream(file).pipe(res);
        },
        () => {
          res.writeHead(404).end();
        },
      );
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

interface Listed {
  fingerprint: string;
  type: string;
  architecture: string;
}

async function fingerprints(conf: string, cert: string, url: string): Promise<string[]> {
  await incus(conf, cert, ['remote', 'add', 'r', url, '--protocol=simplestreams', '--public']);
  const list = JSON.parse(await incus(conf, cert, ['image', 'list', 'r:', '--format=json']));
  return (list as Listed[]).map((i) => `${i.fingerprint} ${i.type} ${i.architecture}`).sort();
}

describe('imgsrv import simplestreams', () => {
  let app: TestApp;
  let fixtures: string;
  let home: string;
  let tree: string;
  let staticServer: Server;
  let staticUrl: string;
  let env: NodeJS.ProcessEnv;
  const confs: string[] = [];
  const freshConf = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imgsrv-incus-'));
    confs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    home = await mkdtemp(join(tmpdir(), 'imgsrv-cli-home-'));
    tree = await mkdtemp(join(tmpdir(), 'imgsrv-tree-'));
    // A tree built by the official tool: Debian 12 amd64 in two versions (the first with a
    // container and a VM sharing one metadata tarball, as the official image server does), and
    // Alpine on arm64.
    const add = (meta: string, root: string) =>
      exec('incus-simplestreams', ['add', meta, root], { cwd: tree });
    const debian = (day: number) =>
      makeIncusMetadata(fixtures, {
        architecture: 'x86_64',
        os: 'Debian',
        release: '12',
        variant: 'default',
        type: 'container',
        creationDate: 1700000000 + day * 86400,
      });
    const d1 = await debian(0);
    await add(d1.path, (await makeSquashfs(fixtures, { seed: 'import-d1' })).path);
    await add(d1.path, (await makeQcow2(fixtures, { seed: 'import-d1' })).path);
    await add((await debian(1)).path, (await makeSquashfs(fixtures, { seed: 'import-d2' })).path);
    const alpine = await makeIncusMetadata(fixtures, {
      architecture: 'aarch64',
      os: 'Alpine',
      release: '3.20',
      variant: 'cloud',
      type: 'container',
    });
    await add(alpine.path, (await makeSquashfs(fixtures, { seed: 'import-alpine' })).path);

    app = await startTestApp({ env: { IMGSRV_PUBLISH_SWEEP_INTERVAL: '500ms' } });
    const cert = app.server.tlsCertFile as string;
    staticServer = await serveTree(tree, cert, cert.replace(/\.crt$/, '.key'));
    staticUrl = `https://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;
    env = cliEnv(home, app, (await issueIdentity(app, 'content-writer')).token);
  }, 120_000);

  afterAll(async () => {
    staticServer?.closeAllConnections();
    staticServer?.close();
    await app?.close();
    for (const dir of [home, tree, ...confs]) await rm(dir, { recursive: true, force: true });
    await removeFixtureDir(fixtures);
  });

  it('imports a tree over https and from a directory, moves nothing the second time, and incus sees the same fingerprints', async () => {
    const cert = app.server.tlsCertFile as string;
    const start = await bytesReceived(app);

    // Over https, only Debian, with the source's aliases.
    const first = await runCli(
      [
        'import',
        'simplestreams',
        staticUrl,
        '--source-ca-file',
        cert,
        '--filter',
        'os=debian,arch=amd64',
        '--alias-from-source',
        '--json',
      ],
      env,
    );
    expect(first.stderr).not.toMatch(/unexpected/);
    expect(first.code).toBe(0);
    const firstReport = JSON.parse(first.stdout);
    expect(firstReport.versions.map((v: any) => `${v.image} ${v.version} ${v.outcome}`)).toEqual([
      'debian-12 202311142213 imported',
      'debian-12 202311152213 imported',
    ]);
    expect(firstReport.aliases_moved).toBe(1);
    // imgsrv serves every artifact under the fingerprint the tree declared for it.
    expect(firstReport.versions.flatMap((v: any) => v.fingerprint_mismatches)).toEqual([]);
    const alias = await runCli(['alias', 'ls', 'debian-12', '--json'], env);
    expect(JSON.parse(alias.stdout)).toEqual([
      expect.objectContaining({ alias: 'Debian-12-default', version: '202311152213' }),
    ]);
    const afterFirst = await bytesReceived(app);
    expect(afterFirst).toBeGreaterThan(start);

    // From the directory, everything: Debian is already there, only Alpine moves.
    const second = await runCli(['import', 'simplestreams', tree, '--json'], env);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).versions.map((v: any) => `${v.image} ${v.outcome}`)).toEqual([
      'alpine-3.20 imported',
      'debian-12 unchanged',
      'debian-12 unchanged',
    ]);

    // Again: nothing moves at all.
    const afterSecond = await bytesReceived(app);
    const third = await runCli(['import', 'simplestreams', tree, '--alias-from-source'], env);
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(/0 version\(s\) imported, 3 unchanged/);
    const moved = await runCli(
      ['import', 'simplestreams', tree, '--alias-from-source', '--json'],
      env,
    );
    expect(JSON.parse(moved.stdout).aliases_moved).toBe(0);
    expect(await bytesReceived(app)).toBe(afterSecond);

    // The real incus client: the same images through imgsrv as through the static tree.
    const fromTree = await fingerprints(await freshConf(), cert, staticUrl);
    const fromImgsrv = await fingerprints(await freshConf(), cert, app.server.urls.https as string);
    expect(fromTree).toHaveLength(4);
    expect(fromImgsrv).toEqual(fromTree);
  }, 180_000);

  it('refuses an item whose bytes do not match the tree, and imports nothing of that version', async () => {
    const broken = await mkdtemp(join(tmpdir(), 'imgsrv-tree-broken-'));
    confs.push(broken);
    await exec('cp', ['-r', `${tree}/.`, broken]);
    const doc = JSON.parse(await readFile(join(broken, 'streams/v1/images.json'), 'utf8'));
    const product = doc.products['Alpine:3.20:cloud:aarch64'];
    const version = Object.values(product.versions)[0] as any;
    // The tree claims a digest the bytes at that path do not have.
    version.items.squashfs.sha256 = 'f'.repeat(64);
    product.os = 'Broken';
    await writeFile(join(broken, 'streams/v1/images.json'), JSON.stringify(doc));
    const result = await runCli(['import', 'simplestreams', broken, '--filter', 'os=broken'], env);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/does not match the tree: sha256 /);
    const shown = await runCli(['show', 'broken-3.20'], env);
    expect(shown.code).toBe(4);
  }, 60_000);
});
