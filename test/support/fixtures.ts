import { execFile } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Real, tiny image files built with the system tools (docs/testing.md, "Real image files"): qcow2 disks
 * (qemu-img), squashfs root filesystems (mksquashfs) and incus.tar.xz metadata tarballs (tar, xz).
 * Each builder writes into a fresh directory under `dir`, so calls never overwrite each other, and
 * the same inputs give the same bytes.
 */

export interface FixtureFile {
  readonly path: string;
  /** `sha256:<hex>` of the file. */
  readonly sha256: string;
  readonly size: number;
}

const MIB = 1024 * 1024;
const execFileAsync = promisify(execFile);

/** A directory for fixtures; remove it with `removeFixtureDir`. */
export function makeFixtureDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'imgsrv-fixtures-'));
}

export function removeFixtureDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** `size` pseudo-random bytes that depend only on `seed` (AES-256-CTR over zeros). */
export function seededBytes(seed: string | number, size: number): Buffer {
  const key = createHash('sha256').update(`imgsrv-fixture:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

export interface Qcow2Options {
  /** Distinct seeds give distinct disks; the same seed gives the same bytes. Default `0`. */
  readonly seed?: string | number;
  /** Virtual disk size, in MiB (default 4). */
  readonly virtualSizeMiB?: number;
  /** Bytes of seeded data written at the start of the disk (default 64 KiB). */
  readonly dataBytes?: number;
}

/** A valid qcow2 disk (`disk.qcow2`) with seeded data at its start and at its middle. */
export async function makeQcow2(dir: string, options: Qcow2Options = {}): Promise<FixtureFile> {
  const seed = options.seed ?? 0;
  const virtualSize = (options.virtualSizeMiB ?? 4) * MIB;
  const dataBytes = options.dataBytes ?? 64 * 1024;
  if (2 * dataBytes > virtualSize) throw new Error('makeQcow2: dataBytes exceeds half the disk');
  const work = await workDir(dir, 'qcow2-');
  const raw = join(work, 'disk.raw');
  const path = join(work, 'disk.qcow2');
  await writeFile(raw, seededBytes(`${seed}:start`, dataBytes));
  await truncate(raw, virtualSize);
  await writeAt(raw, virtualSize / 2, seededBytes(`${seed}:middle`, dataBytes));
  await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, path]);
  await rm(raw);
  return describeFile(path);
}

export interface SquashfsOptions {
  /** Distinct seeds give distinct filesystems; the same seed gives the same bytes. Default `0`. */
  readonly seed?: string | number;
  /** Extra files, by path inside the root filesystem. */
  readonly files?: Readonly<Record<string, string | Buffer>>;
}

/** A squashfs (`rootfs.squashfs`) of a tiny root filesystem tree with seeded content. */
export async function makeSquashfs(
  dir: string,
  options: SquashfsOptions = {},
): Promise<FixtureFile> {
  const seed = options.seed ?? 0;
  const work = await workDir(dir, 'squashfs-');
  const tree = join(work, 'rootfs');
  await writeTree(tree, {
    'etc/hostname': 'imgsrv-fixture\n',
    'etc/os-release': `ID=fixture\nNAME="imgsrv fixture"\nVERSION_ID="${seed}"\n`,
    'usr/bin/hello': seededBytes(`${seed}:hello`, 16 * 1024),
    'var/lib/seed': `${seed}\n`,
    ...options.files,
  });
  return squashTree(tree, join(work, 'rootfs.squashfs'));
}

/**
 * A container root filesystem that really starts under Incus: busybox (static, from Debian's
 * busybox-static) as every command, an init that waits, and `/etc/imgsrv-build` naming `build`,
 * so `incus exec` can show which image an instance runs.
 */
export async function makeBootableSquashfs(dir: string, build: string): Promise<FixtureFile> {
  const work = await workDir(dir, 'bootable-');
  const tree = join(work, 'rootfs');
  for (const d of ['bin', 'sbin', 'etc', 'dev', 'proc', 'sys', 'tmp', 'run', 'root'])
    await mkdir(join(tree, d), { recursive: true });
  await copyFile('/bin/busybox', join(tree, 'bin', 'busybox'));
  await chmod(join(tree, 'bin', 'busybox'), 0o755);
  for (const cmd of ['sh', 'cat', 'sleep', 'ls']) await symlink('busybox', join(tree, 'bin', cmd));
  await writeFile(join(tree, 'sbin', 'init'), '#!/bin/sh\nexec /bin/sleep 2147483647\n');
  await chmod(join(tree, 'sbin', 'init'), 0o755);
  await writeFile(join(tree, 'etc', 'imgsrv-build'), `${build}\n`);
  return squashTree(tree, join(work, 'rootfs.squashfs'));
}

/** `tree` as a squashfs at `path`, the tree removed. */
async function squashTree(tree: string, path: string): Promise<FixtureFile> {
  // Fixed times, owners and no xattrs, so the bytes depend only on the tree.
  await run('mksquashfs', [
    tree,
    path,
    '-noappend',
    '-quiet',
    '-no-progress',
    '-no-xattrs',
    '-all-root',
    '-comp',
    'gzip',
    '-mkfs-time',
    '0',
    '-all-time',
    '0',
  ]);
  await rm(tree, { recursive: true });
  return describeFile(path);
}

export interface IncusMetadataFixture {
  readonly architecture: string;
  readonly os: string;
  readonly release: string;
  readonly variant: string;
  readonly type: 'container' | 'virtual-machine';
  readonly description?: string;
  /** Epoch seconds (default 1700000000). */
  readonly creationDate?: number;
  readonly expiryDate?: number;
  readonly serial?: string;
  /** Replaces the generated metadata.yaml; `null` leaves metadata.yaml out of the tarball. */
  readonly metadataYaml?: string | Buffer | null;
  /** Extra files, by path inside the tarball. */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /** `xz` as Incus expects (default), or `gzip` to build a tarball of the wrong kind. */
  readonly compression?: 'xz' | 'gzip';
}

/**
 * A metadata tarball as `incus image export` writes one: `metadata.yaml` and an empty `templates/`
 * at the root, compressed with xz (`incus.tar.xz`; `incus.tar.gz` with `compression: 'gzip'`).
 */
export async function makeIncusMetadata(
  dir: string,
  fixture: IncusMetadataFixture,
): Promise<FixtureFile> {
  const work = await workDir(dir, 'incus-');
  const tree = join(work, 'tree');
  const tarPath = join(work, 'incus.tar');
  const metadata =
    fixture.metadataYaml === undefined ? metadataYamlOf(fixture) : fixture.metadataYaml;
  await mkdir(join(tree, 'templates'), { recursive: true });
  await writeTree(tree, {
    ...(metadata === null ? {} : { 'metadata.yaml': metadata }),
    ...fixture.files,
  });
  // Sorted names, epoch times, root owner and normalised modes: the bytes depend only on the tree.
  await run('tar', [
    '--create',
    '--file',
    tarPath,
    '--format=gnu',
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mode=u+rwX,go+rX,go-w',
    '--directory',
    tree,
    ...(await readdir(tree)).sort(),
  ]);
  await rm(tree, { recursive: true });
  if (fixture.compression === 'gzip') {
    await run('gzip', ['-9', '--no-name', tarPath]);
    return describeFile(`${tarPath}.gz`);
  }
  await run('xz', ['-6', '--threads=1', '--check=crc64', tarPath]);
  return describeFile(`${tarPath}.xz`);
}

/** The metadata.yaml `makeIncusMetadata` writes, with every value double-quoted. */
export function metadataYamlOf(fixture: IncusMetadataFixture): string {
  const creationDate = fixture.creationDate ?? 1700000000;
  // Serials as the image server spells them: 20231114_22:13.
  const iso = new Date(creationDate * 1000).toISOString();
  const serial = fixture.serial ?? `${iso.slice(0, 10).replaceAll('-', '')}_${iso.slice(11, 16)}`;
  const description =
    fixture.description ??
    `${fixture.os} ${fixture.release} ${fixture.architecture} (${fixture.variant}) (${serial})`;
  const properties: Record<string, string> = {
    architecture: fixture.architecture,
    description,
    os: fixture.os,
    release: fixture.release,
    serial,
    type: fixture.type,
    variant: fixture.variant,
  };
  const q = (value: string) => JSON.stringify(value);
  return [
    `architecture: ${q(fixture.architecture)}`,
    `creation_date: ${creationDate}`,
    ...(fixture.expiryDate === undefined ? [] : [`expiry_date: ${fixture.expiryDate}`]),
    'properties:',
    ...Object.entries(properties).map(([key, value]) => `  ${key}: ${q(value)}`),
    'templates: {}',
    '',
  ].join('\n');
}

const PACKAGE_OF: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  mksquashfs: 'squashfs-tools',
  tar: 'tar',
  xz: 'xz-utils',
  gzip: 'gzip',
};

async function run(tool: string, args: readonly string[]): Promise<void> {
  try {
    await execFileAsync(tool, args, { maxBuffer: 4 * MIB });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `test fixtures need \`${tool}\`, which is not installed: install the Debian package ` +
          `${PACKAGE_OF[tool] ?? tool} (see docs/testing.md, "Real image files")`,
        { cause: error },
      );
    }
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, {
      cause: error,
    });
  }
}

async function workDir(dir: string, prefix: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return mkdtemp(join(dir, prefix));
}

/** Writes files (and their directories) with fixed modes, whatever the umask. */
async function writeTree(
  root: string,
  files: Readonly<Record<string, string | Buffer>>,
): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const path = join(root, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    await chmod(path, 0o644);
  }
  await chmodDirs(root);
}

async function chmodDirs(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await chmodDirs(join(dir, entry.name));
  }
}

async function writeAt(path: string, offset: number, data: Buffer): Promise<void> {
  const file = await open(path, 'r+');
  try {
    await file.write(data, 0, data.length, offset);
  } finally {
    await file.close();
  }
}

async function describeFile(path: string): Promise<FixtureFile> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { path, sha256: `sha256:${hash.digest('hex')}`, size: (await stat(path)).size };
}
