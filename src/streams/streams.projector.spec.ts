import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  productCollision,
  projectStreams,
  versionKey,
  type ProjectionInput,
} from './streams.projector';

const hex = (c: string) => c.repeat(64);

function row(
  over: Partial<ProjectionInput> & Pick<ProjectionInput, 'version' | 'imageType'>,
): ProjectionInput {
  const vm = over.imageType === 'virtual-machine';
  const arch = over.architecture ?? 'amd64';
  const base = `v1/images/debian-12/versions/${over.version}/artifacts/a-${arch}-${vm ? 'vm' : 'ct'}`;
  return {
    imageName: 'debian-12',
    publishedAt: new Date('2026-11-23T10:20:30Z'),
    productKey: `debian-12:${over.version}:${arch}:default`,
    architecture: arch,
    variant: 'default',
    operatingSystem: 'Debian',
    release: '12',
    releaseTitle: 'bookworm',
    combinedSha256: hex(vm ? 'a' : 'b'),
    metadataPath: `${base}/attachments/m/download/incus.tar.xz`,
    metadataSha256: hex(vm ? '1' : '2'),
    metadataSizeBytes: 1000,
    rootFtype: vm ? 'disk-kvm.img' : 'squashfs',
    rootPath: `${base}/download/debian-12-${over.version}-${arch}.${vm ? 'qcow2' : 'squashfs'}`,
    rootSha256: hex(vm ? '3' : '4'),
    rootSizeBytes: 5000,
    aliases: [],
    ...over,
  };
}

/** Compares with the committed golden file; UPDATE_GOLDEN=1 rewrites it. */
function golden(name: string, value: unknown): void {
  const file = join(__dirname, '__golden__', `${name}.json`);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('projectStreams', () => {
  it('projects a VM only', () => {
    golden(
      'vm-only',
      projectStreams([row({ version: '1', imageType: 'virtual-machine', aliases: ['latest'] })]),
    );
  });

  it('projects a container only', () => {
    golden('container-only', projectStreams([row({ version: '1', imageType: 'container' })]));
  });

  it('puts a VM and a container of one version in one product, sharing identical metadata', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'virtual-machine' }),
      row({ version: '1', imageType: 'container', metadataSha256: hex('1') }),
    ]);
    golden('both-shared-metadata', docs);
    const items =
      docs.images.products['debian-12:1:amd64:default'].versions['20261123_10:20'].items;
    expect(Object.keys(items).sort()).toEqual(['disk.qcow2', 'incus.tar.xz', 'root.squashfs']);
    expect(items['incus.tar.xz']).toMatchObject({
      combined_squashfs_sha256: hex('b'),
      'combined_disk-kvm-img_sha256': hex('a'),
    });
  });

  it('gives a VM and a container with different metadata one metadata item each', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'virtual-machine' }),
      row({ version: '1', imageType: 'container' }),
    ]);
    golden('both-own-metadata', docs);
  });

  it('projects two architectures as two products', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'container' }),
      row({
        version: '1',
        imageType: 'container',
        architecture: 'arm64',
        combinedSha256: hex('c'),
        rootSha256: hex('5'),
      }),
    ]);
    golden('two-architectures', docs);
    expect(
      (docs.index as { index: { images: { products: string[] } } }).index.images.products,
    ).toEqual(['debian-12:1:amd64:default', 'debian-12:1:arm64:default']);
  });

  it('projects byte-identical images once, with every version’s aliases', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'container', aliases: ['stable'] }),
      row({
        version: '2',
        imageType: 'container',
        publishedAt: new Date('2026-11-24T00:00:00Z'),
        aliases: ['latest'],
      }),
    ]);
    golden('identical-bytes', docs);
    expect(Object.keys(docs.images.products)).toEqual(['debian-12:1:amd64:default']);
    expect(docs.images.products['debian-12:1:amd64:default'].aliases).toBe(
      'debian-12/1,debian-12/2,debian-12/latest,debian-12/stable',
    );
    const fingerprints = JSON.stringify(docs.images).match(new RegExp(hex('b'), 'g'));
    expect(fingerprints).toHaveLength(1);
  });

  it('follows a moved alias to its new version', () => {
    const before = projectStreams([
      row({ version: '1', imageType: 'container', aliases: ['latest'] }),
      row({ version: '2', imageType: 'container', combinedSha256: hex('d'), rootSha256: hex('6') }),
    ]);
    const after = projectStreams([
      row({ version: '1', imageType: 'container' }),
      row({
        version: '2',
        imageType: 'container',
        combinedSha256: hex('d'),
        rootSha256: hex('6'),
        aliases: ['latest'],
      }),
    ]);
    golden('alias-moved', after);
    expect(before.images.products['debian-12:1:amd64:default'].aliases).toContain(
      'debian-12/latest',
    );
    expect(after.images.products['debian-12:1:amd64:default'].aliases).not.toContain(
      'debian-12/latest',
    );
    expect(after.images.products['debian-12:2:amd64:default'].aliases).toBe(
      'debian-12/2,debian-12/latest',
    );
  });

  it('leaves out architectures Incus does not know', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'container', architecture: 'sparc64' }),
    ]);
    golden('unknown-architecture', docs);
    expect(docs.images.products).toEqual({});
  });

  it('keys versions by UTC publish minute', () => {
    expect(versionKey(new Date('2026-01-02T03:04:59.999Z'))).toBe('20260102_03:04');
  });

  it('renders the same bytes for the same rows in any order', () => {
    const rows = [
      row({ version: '1', imageType: 'container' }),
      row({ version: '1', imageType: 'virtual-machine' }),
    ];
    expect(JSON.stringify(projectStreams(rows))).toBe(
      JSON.stringify(projectStreams([...rows].reverse())),
    );
  });
});

describe('productCollision', () => {
  it('refuses two artifacts that would be the same image of one product', () => {
    expect(
      productCollision([
        { productKey: 'd:1:amd64:default', imageType: 'container', artifactId: 'x' },
        { productKey: 'd:1:amd64:default', imageType: 'virtual-machine', artifactId: 'y' },
        { productKey: 'd:1:amd64:default', imageType: 'container', artifactId: 'z' },
      ]),
    ).toEqual({ productKey: 'd:1:amd64:default', imageType: 'container', first: 'x', second: 'z' });
    expect(
      productCollision([
        { productKey: 'd:1:amd64:default', imageType: 'container', artifactId: 'x' },
      ]),
    ).toBeNull();
  });
});
