import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';

const run = promisify(execFile);

/** Where Debian's `incus` package puts the daemon. */
export const INCUSD = '/usr/libexec/incus/incusd';

/**
 * The real Incus daemon with its own state directory, for one test file. It runs in a mount
 * namespace of its own whose /etc/hosts and /etc/resolv.conf point images.linuxcontainers.org
 * (which the daemon asks for instance types at start) at the loopback, so it never reaches past
 * this machine. The `incus` client talks to it through `INCUS_DIR`'s socket, with a config of its
 * own in `conf` (remotes, their certificates in `servercerts/`).
 */
export class IncusDaemon {
  private constructor(
    readonly root: string,
    private readonly process: ChildProcess,
    /** What the daemon printed, for failure messages. */
    readonly output: string[],
  ) {}

  get env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: this.root,
      INCUS_DIR: join(this.root, 'var'),
      INCUS_CONF: join(this.root, 'conf'),
      INCUS_CACHE: join(this.root, 'cache'),
    };
  }

  static async start(): Promise<IncusDaemon> {
    if (!existsSync(INCUSD))
      throw new Error(`${INCUSD} is missing: scripts/install-system-deps.sh installs it`);
    const root = await mkdtemp(join(tmpdir(), 'imgsrv-incusd-'));
    // Containers run as mapped, unprivileged ids that must get through to their root filesystem.
    await chmod(root, 0o755);
    await mkdir(join(root, 'var'), { recursive: true });
    await mkdir(join(root, 'conf', 'servercerts'), { recursive: true });
    await writeFile(
      join(root, 'resolv.conf'),
      'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n',
    );
    await writeFile(
      join(root, 'hosts'),
      '127.0.0.1 localhost\n127.0.0.1 images.linuxcontainers.org\n',
    );
    const script = [
      'set -e',
      `mount --bind ${root}/resolv.conf /etc/resolv.conf`,
      `mount --bind ${root}/hosts /etc/hosts`,
      `exec ${INCUSD} --group root --logfile ${root}/var/incusd.log`,
    ].join('\n');
    const output: string[] = [];
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', script], {
      env: { ...process.env, INCUS_DIR: join(root, 'var') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const daemon = new IncusDaemon(root, child, output);
    try {
      await daemon.incus(['admin', 'waitready', '--timeout', '120'], 150_000);
      // The daemon's own storage, `dir` on the local filesystem, as the default profile's root disk.
      await daemon.incus(['storage', 'create', 'default', 'dir']);
      await daemon.incus([
        'profile',
        'device',
        'add',
        'default',
        'root',
        'disk',
        'path=/',
        'pool=default',
      ]);
    } catch (error) {
      await daemon.stop();
      throw new Error(`${(error as Error).message}\nincusd said:\n${output.join('')}`, {
        cause: error,
      });
    }
    return daemon;
  }

  /** Runs the `incus` client against this daemon; its stdout. */
  async incus(args: string[], timeout = 180_000): Promise<string> {
    try {
      const pending = run('incus', args, { env: this.env, timeout, maxBuffer: 16 << 20 });
      // Several commands read YAML from a standard input that is not a terminal: give them none.
      pending.child.stdin?.end();
      const { stdout } = await pending;
      return stdout;
    } catch (error) {
      const e = error as Error & { stderr?: string };
      throw new Error(`incus ${args.join(' ')}: ${e.stderr ?? e.message}`, { cause: error });
    }
  }

  /** Adds an HTTPS Simple Streams remote whose self-signed certificate the daemon trusts. */
  async addRemote(name: string, url: string, certPem: string): Promise<void> {
    await writeFile(join(this.root, 'conf', 'servercerts', `${name}.crt`), certPem);
    await this.incus(['remote', 'add', name, url, '--protocol=simplestreams', '--public']);
  }

  /**
   * Makes time pass for cached streams documents: the daemon keeps a remote's documents for an
   * hour (lxc/incus cmd/incusd/daemon_images.go, CacheExpiry) before it reads them again, the
   * client for five minutes (shared/cliconfig/remote.go). `which` says whose cache; files read
   * longer ago than `ageMs` are stale.
   */
  async ageStreamsCache(which: 'daemon' | 'client', ageMs: number): Promise<void> {
    const cache = which === 'daemon' ? join(this.root, 'var', 'cache') : join(this.root, 'cache');
    const old = new Date(Date.now() - ageMs);
    for (const entry of await readdir(cache, { recursive: true, withFileTypes: true }))
      if (entry.isFile() && entry.name.endsWith('.json'))
        await utimes(join(entry.parentPath, entry.name), old, old);
  }

  /** Stops every instance, then the daemon, and removes its state. */
  async stop(): Promise<void> {
    if (this.process.exitCode === null) {
      await this.incus(['admin', 'shutdown', '--force'], 120_000).catch(() => undefined);
      if (this.process.exitCode === null) {
        const exited = new Promise((r) => this.process.once('exit', r));
        this.process.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
        if (this.process.exitCode === null) this.process.kill('SIGKILL');
      }
    }
    // Instances leave mounts in the daemon's namespace only; once it is gone, the tree can go.
    await rm(this.root, { recursive: true, force: true }).catch(() => undefined);
  }
}
