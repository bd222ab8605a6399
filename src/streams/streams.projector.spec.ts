import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  productCollision,
  projectStreams,
  projectStreamsBytes,
  StreamsProjection,
  streamsSerial,
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
    serial: null,
    combinedSha256: hex(vm ? 'a' : 'b'),
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

  it('puts a VM and a container of one version in products of their own', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'virtual-machine', aliases: ['latest'] }),
      row({ version: '1', imageType: 'container', metadataSha256: hex('1'), aliases: ['latest'] }),
    ]);
    golden('both-types', docs);
    expect(Object.keys(docs.images.products)).toEqual([
      'debian-12:1:amd64:default:container',
      'debian-12:1:amd64:default:vm',
    ]);
    const vm = docs.images.products['debian-12:1:amd64:default:vm'];
    expect(vm.aliases).toBe('debian-12/1,debian-12/latest');
    expect(Object.keys(vm.versions['20261123_10:20'].items)).toEqual([
      'disk.qcow2',
      'incus.tar.xz',
    ]);
    expect(vm.versions['20261123_10:20'].items['incus.tar.xz']).toEqual({
      'combined_disk-kvm-img_sha256': hex('a'),
      ftype: 'incus.tar.xz',
      path: `streams/v1/items/${hex('1')}/incus.tar.xz`,
      sha256: hex('1'),
      size: 1000,
    });
  });

  it('projects two architectures as two products', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'container' }),
      row({
        version: '1',
        imageType: 'container',
        architecture: 'aarch64',
        combinedSha256: hex('c'),
        rootSha256: hex('5'),
      }),
    ]);
    golden('two-architectures', docs);
    expect(
      (docs.index as { index: { images: { products: string[] } } }).index.images.products,
    ).toEqual(['debian-12:1:aarch64:default:container', 'debian-12:1:amd64:default:container']);
    // One spelling per architecture, the one images.linuxcontainers.org uses.
    expect(docs.images.products['debian-12:1:aarch64:default:container'].arch).toBe('arm64');
  });

  it('lists bytes shipped again once, under their first version, with every name that ships them', () => {
    const docs = projectStreams([
      row({ version: '2', imageType: 'virtual-machine', aliases: ['stable'] }),
      row({ version: '2', imageType: 'container', aliases: ['stable'] }),
      row({
        version: '4',
        imageType: 'virtual-machine',
        publishedAt: new Date('2026-11-24T00:00:00Z'),
        combinedSha256: hex('e'),
        rootSha256: hex('7'),
      }),
      row({ version: '4', imageType: 'container', publishedAt: new Date('2026-11-24T00:00:00Z') }),
      row({
        version: '5',
        imageType: 'container',
        publishedAt: new Date('2026-11-25T00:00:00Z'),
        aliases: ['latest'],
      }),
      row({
        imageName: 'other',
        productKey: 'other:1:amd64:default',
        version: '1',
        imageType: 'container',
        publishedAt: new Date('2026-11-26T00:00:00Z'),
        aliases: ['latest'],
      }),
    ]);
    golden('identical-bytes', docs);
    const products = docs.images.products;
    expect(Object.keys(products)).toEqual([
      'debian-12:2:amd64:default:container',
      'debian-12:2:amd64:default:vm',
      'debian-12:4:amd64:default:vm',
    ]);
    expect(products['debian-12:2:amd64:default:container'].aliases).toBe(
      'debian-12/2,debian-12/4,debian-12/5,debian-12/latest,debian-12/stable,other/1,other/latest',
    );
    // The VMs keep only their own versions' names: latest (v5) ships no VM.
    expect(products['debian-12:2:amd64:default:vm'].aliases).toBe('debian-12/2,debian-12/stable');
    expect(products['debian-12:4:amd64:default:vm'].aliases).toBe('debian-12/4');
    const fingerprints = JSON.stringify(docs.images).match(new RegExp(hex('b'), 'g'));
    expect(fingerprints).toHaveLength(1);
  });

  it('follows a moved alias to its new version', () => {
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
    expect(after.images.products['debian-12:1:amd64:default:container'].aliases).toBe(
      'debian-12/1',
    );
    expect(after.images.products['debian-12:2:amd64:default:container'].aliases).toBe(
      'debian-12/2,debian-12/latest',
    );
  });

  it('names other variants with their variant, and leaves out aliases named like a version', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'container', aliases: ['latest', '2'] }),
      row({
        version: '1',
        imageType: 'container',
        variant: 'cloud',
        productKey: 'debian-12:1:amd64:cloud',
        combinedSha256: hex('c'),
        rootSha256: hex('5'),
        aliases: ['latest', '2'],
      }),
      row({ version: '2', imageType: 'container', combinedSha256: hex('d'), rootSha256: hex('6') }),
    ]);
    expect(docs.images.products['debian-12:1:amd64:default:container'].aliases).toBe(
      'debian-12/1,debian-12/latest',
    );
    expect(docs.images.products['debian-12:1:amd64:cloud:container'].aliases).toBe(
      'debian-12/1/cloud,debian-12/latest/cloud',
    );
  });

  it('keys each image by its own serial, and by the publish minute when it has none', () => {
    const docs = projectStreams([
      row({ version: '1', imageType: 'container', serial: '20241120_05:24' }),
      row({ version: '2', imageType: 'container', combinedSha256: hex('d'), rootSha256: hex('6') }),
    ]);
    expect(
      Object.keys(docs.images.products['debian-12:1:amd64:default:container'].versions),
    ).toEqual(['20241120_05:24']);
    expect(
      Object.keys(docs.images.products['debian-12:2:amd64:default:container'].versions),
    ).toEqual(['20261123_10:20']);
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

  it('takes a serial from metadata.yaml only when it starts with a real date', () => {
    const created = Date.UTC(2024, 10, 20, 5, 24) / 1000;
    expect(streamsSerial({ serial: '20241120_05:24' }, 0)).toBe('20241120_05:24');
    expect(streamsSerial({ serial: '202411200524' }, 0)).toBe('202411200524');
    expect(streamsSerial({ serial: '20241340_05:24' }, created)).toBe('20241120_05:24');
    expect(streamsSerial({ serial: '1' }, created)).toBe('20241120_05:24');
    expect(streamsSerial({ serial: '20241120 05:24' }, created)).toBe('20241120_05:24');
    expect(streamsSerial({}, created)).toBe('20241120_05:24');
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

describe('StreamsProjection', () => {
  const many = Array.from({ length: 600 }, (_, i) =>
    row({
      version: String(i),
      imageType: i % 2 ? 'virtual-machine' : 'container',
      publishedAt: new Date(Date.UTC(2026, 0, 1, 0, i)),
      releaseTitle: 'bücherwurm ✓',
      combinedSha256: i.toString(16).padStart(64, '0'),
      aliases: i % 7 ? [] : [`a${i}`, String(i + 1)],
    }),
  );

  it('writes compact JSON, byte for byte what serializing its objects gives, non-ASCII included', () => {
    const bytes = projectStreamsBytes(many);
    expect(bytes.images.length).toBeGreaterThan(4 * 64 * 1024);
    const text = bytes.images.toString('utf8');
    const parsed = JSON.parse(text) as ReturnType<typeof projectStreams>['images'];
    expect(JSON.stringify(parsed)).toBe(text);
    expect(JSON.stringify(projectStreams(many).index)).toBe(bytes.index.toString('utf8'));
    const products = Object.values(parsed.products);
    expect(products).toHaveLength(600);
    expect(products.every((p) => p.release_title === 'bücherwurm ✓')).toBe(true);
    // An alias named like a version of the image is left out even when that version comes later.
    expect(parsed.products['debian-12:7:amd64:default:vm'].aliases).toBe(
      'debian-12/7,debian-12/a7',
    );
  });

  it('refuses rows out of projection order', () => {
    const projection = new StreamsProjection();
    projection.add(many[1]);
    expect(() => projection.add(many[0])).toThrow('out of order');
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
