import { incusArchitectureKnown } from './incus-architecture';

/** One projection row as the projector needs it (a published version's eligible artifact). */
export interface ProjectionInput {
  readonly imageName: string;
  readonly version: string;
  readonly publishedAt: Date;
  readonly productKey: string;
  readonly imageType: 'container' | 'virtual-machine';
  readonly architecture: string;
  readonly variant: string;
  readonly operatingSystem: string;
  readonly release: string;
  readonly releaseTitle: string;
  readonly combinedSha256: string;
  readonly metadataPath: string;
  readonly metadataSha256: string;
  readonly metadataSizeBytes: number;
  readonly rootFtype: 'squashfs' | 'disk-kvm.img';
  readonly rootPath: string;
  readonly rootSha256: string;
  readonly rootSizeBytes: number;
  /** Alias names (without the image) pointing at this row's version. */
  readonly aliases: readonly string[];
}

interface Item {
  ftype: string;
  path: string;
  sha256: string;
  size: number;
  combined_squashfs_sha256?: string;
  'combined_disk-kvm-img_sha256'?: string;
}

interface Product {
  aliases: string;
  arch: string;
  os: string;
  release: string;
  release_title: string;
  variant: string;
  versions: Record<string, { items: Record<string, Item> }>;
}

export interface StreamsDocuments {
  readonly index: object;
  readonly images: {
    content_id: string;
    datatype: string;
    format: string;
    products: Record<string, Product>;
  };
}

/** Product version keys: the UTC publish time, YYYYMMDD_HH:MM (the client reads the first 8). */
export function versionKey(publishedAt: Date): string {
  const iso = publishedAt.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 16)}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/**
 * Turns projection rows into the Simple Streams documents. Rules (lxc/incus v6.0.4 client):
 * - a fingerprint must appear once in the whole document, or the client cannot resolve it: rows
 *   with byte-identical images (same combined hash) are projected once, at their first
 *   publication, carrying the aliases of every version they stand for;
 * - the client pairs each `incus.tar.xz` item with each root item of a version, so a VM and a
 *   container of one product share a metadata item when their tarballs are identical and get
 *   one each otherwise (the pairing without its combined field is ignored by the client);
 * - `aliases` is one comma-separated string; products with an unknown `arch` are dropped (the
 *   client would drop them silently).
 * Output key order is fixed, so equal input renders equal bytes on every API process.
 */
export function projectStreams(rows: readonly ProjectionInput[]): StreamsDocuments {
  const ordered = [...rows]
    .filter((r) => incusArchitectureKnown(r.architecture))
    .sort(
      (a, b) =>
        a.publishedAt.getTime() - b.publishedAt.getTime() ||
        compare(a.productKey, b.productKey) ||
        compare(a.imageType, b.imageType) ||
        compare(a.combinedSha256, b.combinedSha256),
    );

  const keptByFingerprint = new Map<string, ProjectionInput>();
  const extraAliases = new Map<string, Set<string>>(); // productKey -> aliases from duplicates
  const kept: ProjectionInput[] = [];
  for (const row of ordered) {
    const first = keptByFingerprint.get(row.combinedSha256);
    if (!first) {
      keptByFingerprint.set(row.combinedSha256, row);
      kept.push(row);
      continue;
    }
    const names = extraAliases.get(first.productKey) ?? new Set<string>();
    names.add(`${row.imageName}/${row.version}`);
    for (const a of row.aliases) names.add(`${row.imageName}/${a}`);
    extraAliases.set(first.productKey, names);
  }

  const products: Record<string, Product> = {};
  for (const row of kept) {
    const product = (products[row.productKey] ??= {
      aliases: '',
      arch: row.architecture,
      os: row.operatingSystem,
      release: row.release,
      release_title: row.releaseTitle,
      variant: row.variant,
      versions: {},
    });
    const names = new Set(product.aliases ? product.aliases.split(',') : []);
    names.add(`${row.imageName}/${row.version}`);
    for (const a of row.aliases) names.add(`${row.imageName}/${a}`);
    for (const a of extraAliases.get(row.productKey) ?? []) names.add(a);
    product.aliases = [...names].sort().join(',');

    const version = (product.versions[versionKey(row.publishedAt)] ??= { items: {} });
    const items = version.items;
    const combinedField =
      row.imageType === 'container' ? 'combined_squashfs_sha256' : 'combined_disk-kvm-img_sha256';
    const metaKey =
      Object.keys(items).find(
        (k) => items[k].ftype === 'incus.tar.xz' && items[k].sha256 === row.metadataSha256,
      ) ??
      (Object.values(items).some((i) => i.ftype === 'incus.tar.xz')
        ? `incus.tar.xz-${row.imageType}`
        : 'incus.tar.xz');
    items[metaKey] ??= {
      ftype: 'incus.tar.xz',
      path: row.metadataPath,
      sha256: row.metadataSha256,
      size: row.metadataSizeBytes,
    };
    items[metaKey][combinedField] = row.combinedSha256;
    items[row.rootFtype === 'squashfs' ? 'root.squashfs' : 'disk.qcow2'] = {
      ftype: row.rootFtype,
      path: row.rootPath,
      sha256: row.rootSha256,
      size: row.rootSizeBytes,
    };
  }

  for (const product of Object.values(products)) {
    for (const v of Object.values(product.versions)) {
      v.items = sorted(
        Object.fromEntries(
          Object.entries(v.items).map(([k, item]) => [
            k,
            sorted(item as unknown as Record<string, unknown>) as unknown as Item,
          ]),
        ),
      );
    }
    product.versions = sorted(product.versions);
  }
  const images = {
    content_id: 'images',
    datatype: 'image-downloads',
    format: 'products:1.0',
    products: sorted(products),
  };
  const index = {
    format: 'index:1.0',
    index: {
      images: {
        datatype: 'image-downloads',
        path: 'streams/v1/images.json',
        format: 'products:1.0',
        products: Object.keys(images.products),
      },
    },
  };
  return { index, images };
}

/**
 * Two artifacts of one version that would be the same image type of the same product (same
 * image, version, architecture and variant): the second one, or null when there is none.
 */
export function productCollision(
  items: readonly { productKey: string; imageType: string; artifactId: string }[],
): { productKey: string; imageType: string; first: string; second: string } | null {
  const seen = new Map<string, string>();
  for (const item of items) {
    const key = `${item.productKey}\u0000${item.imageType}`;
    const first = seen.get(key);
    if (first)
      return {
        productKey: item.productKey,
        imageType: item.imageType,
        first,
        second: item.artifactId,
      };
    seen.set(key, item.artifactId);
  }
  return null;
}
