import {
  aliasNameOf,
  mirroredAliasName,
  declaredFingerprint,
  fingerprintsUnder,
  imageNameOf,
  importVersions,
  parseFilter,
  selectVersions,
  type ProductsDocument,
} from './reader';

const item = (ftype: string, sha: string) => ({
  ftype,
  path: `images/${sha}`,
  sha256: sha,
  size: 1,
});

const doc: ProductsDocument = {
  products: {
    'Debian:12:default:x86_64': {
      aliases: 'Debian/12/default,debian/12',
      arch: 'x86_64',
      os: 'Debian',
      release: '12',
      variant: 'default',
      versions: {
        '202401010000': {
          items: {
            'incus.tar.xz': item('incus.tar.xz', 'm1'),
            squashfs: item('squashfs', 's1'),
            'disk-kvm.img': item('disk-kvm.img', 'q1'),
            'root.tar.xz': item('root.tar.xz', 'r1'),
          },
        },
        '202402010000': {
          items: { 'incus.tar.xz': item('incus.tar.xz', 'm2'), squashfs: item('squashfs', 's2') },
        },
      },
    },
    'Alpine:3.20:cloud:aarch64': {
      arch: 'aarch64',
      os: 'Alpine',
      release: '3.20',
      variant: 'cloud',
      versions: {
        '202401010000': {
          items: { 'incus.tar.xz': item('incus.tar.xz', 'm3'), squashfs: item('squashfs', 's3') },
        },
      },
    },
  },
};

describe('importVersions', () => {
  it('pairs each root image with the version metadata tarball and reports what it skips', () => {
    const versions = importVersions(doc);
    const d1 = versions.find((v) => v.image === 'debian-12' && v.version === '202401010000');
    expect(d1?.artifacts.map((a) => [a.format, a.root.sha256, a.metadata.sha256])).toEqual([
      ['squashfs', 's1', 'm1'],
      ['qcow2', 'q1', 'm1'],
    ]);
    expect(d1?.skipped).toEqual(['root.tar.xz']);
    expect(d1?.aliases).toEqual(['Debian/12/default', 'debian/12']);
    expect(versions.map((v) => `${v.image} ${v.version}`)).toEqual([
      'alpine-3.20 202401010000',
      'debian-12 202401010000',
      'debian-12 202402010000',
    ]);
  });
});

describe('selectVersions', () => {
  const versions = importVersions(doc);

  it('filters case-insensitively, with architecture synonyms', () => {
    const picked = selectVersions(versions, parseFilter('os=debian,arch=amd64'));
    expect(picked.map((v) => v.version)).toEqual(['202401010000', '202402010000']);
    expect(selectVersions(versions, parseFilter('arch=arm64')).map((v) => v.image)).toEqual([
      'alpine-3.20',
    ]);
  });

  it('keeps the newest N versions of each product', () => {
    const picked = selectVersions(versions, {}, 1);
    expect(picked.map((v) => `${v.image} ${v.version}`)).toEqual([
      'alpine-3.20 202401010000',
      'debian-12 202402010000',
    ]);
  });

  it('keeps one instance type, dropping versions left without an artifact', () => {
    const vms = selectVersions(versions, parseFilter('type=virtual-machine'));
    expect(vms.map((v) => `${v.image} ${v.version}`)).toEqual(['debian-12 202401010000']);
    expect(vms[0].artifacts.map((a) => a.format)).toEqual(['qcow2']);
    const containers = selectVersions(versions, parseFilter('type=container,os=debian'));
    expect(containers.flatMap((v) => v.artifacts.map((a) => a.format))).toEqual([
      'squashfs',
      'squashfs',
    ]);
    expect(selectVersions(versions, parseFilter('type=vm'))).toHaveLength(1);
  });

  it('matches product aliases by glob, ignoring case', () => {
    expect(
      selectVersions(versions, parseFilter('alias=debian/12/*')).map((v) => v.version),
    ).toEqual(['202401010000', '202402010000']);
    expect(selectVersions(versions, parseFilter('alias=debian/1?'))).toHaveLength(2);
    expect(selectVersions(versions, parseFilter('alias=debian'))).toHaveLength(0);
    // Regular-expression characters in a glob are literal.
    expect(selectVersions(versions, parseFilter('alias=debian.12'))).toHaveLength(0);
  });

  it('refuses an unknown filter key or type', () => {
    expect(() => parseFilter('colour=blue')).toThrow(/--filter/);
    expect(() => parseFilter('type=lxc')).toThrow(/container, virtual-machine or vm/);
  });
});

describe('names', () => {
  it('makes image and alias names the API accepts', () => {
    expect(imageNameOf('Debian', '12')).toBe('debian-12');
    expect(imageNameOf('Ubuntu', 'noble (24.04)')).toBe('ubuntu-noble-24.04-');
    expect(aliasNameOf('Debian/12/default')).toBe('Debian-12-default');
  });

  it('maps mirrored aliases so that imgsrv publishes the upstream names again', () => {
    // imgsrv publishes <image>/<alias>, and /<variant> for other variants than default.
    expect(mirroredAliasName('debian/12', 'debian', 'default')).toBe('12');
    expect(mirroredAliasName('debian/bookworm/cloud', 'debian', 'cloud')).toBe('bookworm');
    expect(mirroredAliasName('Debian/12', 'debian', 'default')).toBe('12');
    // Another image name keeps the whole alias, in the alias alphabet.
    expect(mirroredAliasName('debian/12', 'debian-12', 'default')).toBe('debian-12');
    expect(mirroredAliasName('debian/12/cloud', 'debian-12', 'cloud')).toBe('debian-12');
  });
});

describe('fingerprints', () => {
  const served: ProductsDocument = {
    products: {
      'debian-12:v1:amd64:default': {
        arch: 'amd64',
        os: 'Debian',
        release: '12',
        versions: {
          '20260101_00:00': {
            items: {
              'incus.tar.xz': {
                ...item('incus.tar.xz', 'm'),
                combined_squashfs_sha256: 'fp-ct',
                'combined_disk-kvm-img_sha256': 'fp-vm',
              },
            },
          },
        },
      },
      'debian-12:v2:amd64:default': {
        arch: 'amd64',
        os: 'Debian',
        release: '12',
        versions: {
          '20260102_00:00': {
            items: {
              'incus.tar.xz': { ...item('incus.tar.xz', 'n'), combined_squashfs_sha256: 'fp-v2' },
            },
          },
        },
      },
    },
  };

  it('collects the combined fingerprints of one version only', () => {
    expect([...fingerprintsUnder(served, 'debian-12:v1:')].sort()).toEqual(['fp-ct', 'fp-vm']);
    expect([...fingerprintsUnder(served, 'debian-12:v3:')]).toEqual([]);
  });

  it('reads the fingerprint a tree declares for a container and for a VM', () => {
    const metadata = {
      ...item('incus.tar.xz', 'm'),
      combined_squashfs_sha256: 'ct',
      'combined_disk-kvm-img_sha256': 'vm',
    };
    const root = item('squashfs', 's');
    expect(declaredFingerprint({ format: 'squashfs', root, metadata })).toBe('ct');
    expect(declaredFingerprint({ format: 'qcow2', root, metadata })).toBe('vm');
  });
});
