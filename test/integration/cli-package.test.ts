import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI_PACKAGE = resolve(__dirname, '../../cli');

/**
 * The CLI is its own package (cli/, an npm workspace): what `npm pack` makes of it installs into
 * an empty project and runs there, without the server or this repository around it.
 */
describe('the CLI package', () => {
  let dir: string;

  beforeAll(async () => {
    if (!existsSync(join(CLI_PACKAGE, 'dist', 'cli', 'src', 'main.js')))
      throw new Error('cli/dist is missing: npm test builds it first (npm run build)');
    dir = await mkdtemp(join(tmpdir(), 'imgsrv-cli-package-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('packs, installs into an empty project and runs', async () => {
    await run('npm', ['pack', '--pack-destination', dir], { cwd: CLI_PACKAGE });
    const [tarball] = (await readdir(dir)).filter((f) => f.endsWith('.tgz'));
    expect(tarball).toMatch(/^imgsrv-cli-.*\.tgz$/);
    const project = join(dir, 'project');
    await run('mkdir', ['-p', project]);
    await writeFile(join(project, 'package.json'), '{"name":"project","private":true}\n');
    await run('npm', ['install', '--no-audit', '--no-fund', join(dir, tarball)], {
      cwd: project,
    });
    const bin = join(project, 'node_modules', '.bin', 'imgsrv');
    const version = await run(bin, ['--version'], { cwd: project });
    expect(version.stdout.trim()).toMatch(/^imgsrv \d+\.\d+\.\d+$/);
    const help = await run(bin, ['--help'], { cwd: project });
    expect(help.stdout).toMatch(/^usage: imgsrv /);
    // Nothing of the server came along: only the CLI, the Incus knowledge, the provenance formats
    // and the Simple Streams reader it shares.
    const shipped = await readdir(join(project, 'node_modules', '@imgsrv', 'cli', 'dist', 'src'));
    expect(shipped).toEqual(['incus', 'simplestreams', 'transparency']);
  });
});
