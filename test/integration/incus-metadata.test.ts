import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { architectureMatches } from '../../src/incus/architecture';
import { IncusMetadataError, type IncusMetadataErrorCode } from '../../src/incus/metadata';
import { IncusMetadataProbe, parseIncusMetadata } from '../../src/incus/metadata-tarball';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  makeSquashfs,
  removeFixtureDir,
  seededBytes,
  type IncusMetadataFixture,
} from '../support/fixtures';

const exec = promisify(execFile);
const MIB = 1024 * 1024;

const DEBIAN: IncusMetadataFixture = {
  architecture: 'x86_64',
  os: 'debian',
  release: '12',
  variant: 'default',
  type: 'container',
};

let dir: string;
beforeAll(async () => {
  dir = await makeFixtureDir();
});
afterAll(async () => {
  await removeFixtureDir(dir);
});

async function refusal(
  promise: Promise<unknown>,
  code: IncusMetadataErrorCode,
): Promise<IncusMetadataError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IncusMetadataError);
  expect(error).toMatchObject({ code });
  return error as IncusMetadataError;
}

const parseFile = (path: string) => parseIncusMetadata(createReadStream(path));

describe('parsing real incus.tar.xz tarballs', () => {
  it('reads the metadata.yaml of a container tarball', async () => {
    const tarball = await makeIncusMetadata(dir, DEBIAN);
    expect(tarball.path.endsWith('/incus.tar.xz')).toBe(true);
    const listing = (await exec('tar', ['-tJf', tarball.path])).stdout.split('\n');
    expect(listing.filter(Boolean)).toEqual(['metadata.yaml', 'templates/']);

    expect(await parseFile(tarball.path)).toEqual({
      architecture: 'x86_64',
      creation_date: 1700000000,
      properties: {
        architecture: 'x86_64',
        description: 'debian 12 x86_64 (default) (20231114_22:13)',
        os: 'debian',
        release: '12',
        serial: '20231114_22:13',
        type: 'container',
        variant: 'default',
      },
    });
  });

  it('hashes every byte of a virtual-machine tarball while parsing it', async () => {
    const tarball = await makeIncusMetadata(dir, {
      ...DEBIAN,
      architecture: 'aarch64',
      type: 'virtual-machine',
      description: 'Debian 12 arm64 (cloud)',
      variant: 'cloud',
      creationDate: 1735689600,
      expiryDate: 1738368000,
      files: { 'templates/cloud-init-user.tpl': seededBytes('templates', 512 * 1024) },
    });
    const hash = createHash('sha256');
    let size = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback();
      },
    });
    const probe = new IncusMetadataProbe();
    await pipeline(createReadStream(tarball.path), probe, sink);
    expect(`sha256:${hash.digest('hex')}`).toBe(tarball.sha256);
    expect(size).toBe(tarball.size);

    const metadata = await probe.metadata;
    expect(metadata).toMatchObject({
      architecture: 'aarch64',
      creation_date: 1735689600,
      expiry_date: 1738368000,
      properties: { description: 'Debian 12 arm64 (cloud)', type: 'virtual-machine' },
    });
    expect(architectureMatches('arm64', metadata.architecture)).toBe(true);
    expect(architectureMatches('amd64', metadata.architecture)).toBe(false);
  });

  it('stops reading the file once metadata.yaml is parsed', async () => {
    const tarball = await makeIncusMetadata(dir, {
      ...DEBIAN,
      files: { 'templates/rootfs.bin': seededBytes('rest', 2 * MIB) },
    });
    expect(tarball.size).toBeGreaterThan(2 * MIB);
    const stream = createReadStream(tarball.path);
    expect((await parseIncusMetadata(stream)).architecture).toBe('x86_64');
    expect(stream.destroyed).toBe(true);
    expect(stream.bytesRead).toBeLessThan(MIB / 2);
  });

  it('finds metadata.yaml behind a large entry', async () => {
    const tarball = await makeIncusMetadata(dir, {
      ...DEBIAN,
      files: { 'a-rootfs.bin': seededBytes('first', MIB) },
    });
    const listing = (await exec('tar', ['-tJf', tarball.path])).stdout.split('\n');
    expect(listing.indexOf('a-rootfs.bin')).toBeLessThan(listing.indexOf('metadata.yaml'));
    expect((await parseFile(tarball.path)).properties.os).toBe('debian');
  });

  it('builds the same bytes for the same inputs, and other bytes for others', async () => {
    const a = await makeIncusMetadata(dir, DEBIAN);
    const b = await makeIncusMetadata(dir, DEBIAN);
    const c = await makeIncusMetadata(dir, { ...DEBIAN, release: '13' });
    expect(a.path).not.toBe(b.path);
    expect(b.sha256).toBe(a.sha256);
    expect(c.sha256).not.toBe(a.sha256);
    expect(a.sha256).toBe(
      `sha256:${createHash('sha256')
        .update(await readFile(a.path))
        .digest('hex')}`,
    );
  });

  describe('refuses', () => {
    it('garbage bytes', async () => {
      const path = join(dir, 'garbage.tar.xz');
      await writeFile(path, seededBytes('garbage', 100 * 1024));
      await refusal(parseFile(path), 'NOT_XZ');
    });

    it('a gzip tarball', async () => {
      const tarball = await makeIncusMetadata(dir, { ...DEBIAN, compression: 'gzip' });
      expect(tarball.path.endsWith('/incus.tar.gz')).toBe(true);
      expect((await readFile(tarball.path)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      await refusal(parseFile(tarball.path), 'NOT_XZ');
    });

    it('a tar.xz without metadata.yaml', async () => {
      const tarball = await makeIncusMetadata(dir, { ...DEBIAN, metadataYaml: null });
      await refusal(parseFile(tarball.path), 'METADATA_MISSING');
    });

    it('a huge metadata.yaml', async () => {
      const description = 'x'.repeat(MIB);
      const tarball = await makeIncusMetadata(dir, { ...DEBIAN, description });
      const error = await refusal(parseFile(tarball.path), 'METADATA_TOO_LARGE');
      expect(error.message).toBe('metadata.yaml is larger than 1 MiB.');
      expect(
        (await parseIncusMetadata(createReadStream(tarball.path), { maxMetadataBytes: 2 * MIB }))
          .properties.description,
      ).toBe(description);
    });

    it('a truncated tarball', async () => {
      const tarball = await makeIncusMetadata(dir, {
        ...DEBIAN,
        files: { 'a-rootfs.bin': seededBytes('first', MIB) },
      });
      await truncate(tarball.path, Math.floor(tarball.size / 2));
      await refusal(parseFile(tarball.path), 'XZ_INVALID');
    });

    it('a metadata.yaml that is not YAML or names no architecture', async () => {
      const broken = await makeIncusMetadata(dir, { ...DEBIAN, metadataYaml: 'architecture: [\n' });
      await refusal(parseFile(broken.path), 'METADATA_YAML_INVALID');
      const archless = await makeIncusMetadata(dir, {
        ...DEBIAN,
        metadataYaml: 'creation_date: 1700000000\nproperties:\n  os: debian\n',
      });
      expect((await refusal(parseFile(archless.path), 'METADATA_FIELD_INVALID')).field).toBe(
        'architecture',
      );
    });
  });
});

describe('qcow2 fixtures', () => {
  it('are valid qcow2 disks holding their seeded data', async () => {
    const disk = await makeQcow2(dir, { seed: 'a' });
    expect(disk.path.endsWith('/disk.qcow2')).toBe(true);
    const info = JSON.parse((await exec('qemu-img', ['info', '--output=json', disk.path])).stdout);
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 4 * MIB });
    await exec('qemu-img', ['check', '-q', disk.path]);

    const raw = join(dir, 'roundtrip.raw');
    await exec('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', disk.path, raw]);
    const file = await open(raw, 'r');
    try {
      const start = Buffer.alloc(64 * 1024);
      await file.read(start, 0, start.length, 0);
      expect(start.equals(seededBytes('a:start', start.length))).toBe(true);
    } finally {
      await file.close();
    }
  });

  it('give the same bytes for a seed and other bytes for another', async () => {
    const a = await makeQcow2(dir, { seed: 1 });
    const b = await makeQcow2(dir, { seed: 1 });
    const c = await makeQcow2(dir, { seed: 2 });
    expect(b.sha256).toBe(a.sha256);
    expect(b.size).toBe(a.size);
    expect(c.sha256).not.toBe(a.sha256);
  });
});

describe('squashfs fixtures', () => {
  it('are squashfs filesystems holding the tree', async () => {
    const rootfs = await makeSquashfs(dir, { seed: 'a', files: { 'etc/motd': 'hello\n' } });
    expect(rootfs.path.endsWith('/rootfs.squashfs')).toBe(true);
    expect((await readFile(rootfs.path)).subarray(0, 4).toString('latin1')).toBe('hsqs');
    const listing = (await exec('unsquashfs', ['-l', rootfs.path])).stdout;
    for (const file of ['etc/os-release', 'etc/motd', 'usr/bin/hello']) {
      expect(listing).toContain(`squashfs-root/${file}`);
    }
  });

  it('give the same bytes for a seed and other bytes for another', async () => {
    const a = await makeSquashfs(dir, { seed: 1 });
    const b = await makeSquashfs(dir, { seed: 1 });
    const c = await makeSquashfs(dir, { seed: 2 });
    expect(b.sha256).toBe(a.sha256);
    expect(c.sha256).not.toBe(a.sha256);
  });
});
