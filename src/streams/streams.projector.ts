import { incusArchitectureKnown, streamsArchitecture } from '../incus/architecture';

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
  /** The image's own serial (see `streamsSerial`); null for rows written before it was kept. */
  readonly serial: string | null;
  readonly combinedSha256: string;
  readonly metadataSha256: string;
  readonly metadataSizeBytes: number;
  readonly rootFtype: 'squashfs' | 'disk-kvm.img';
  /** The artifact's download route; its last segment names the root file. */
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
  versions: Record<string, { items: Record<string, Item>; label: string }>;
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

/** The metadata item's file name, which `incus image export` keeps. */
export const METADATA_FILENAME = 'incus.tar.xz';

/** Where the client downloads an item: a content-addressed route (see StreamsItemsController). */
export function itemPath(sha256: string, filename: string): string {
  return `streams/v1/items/${sha256}/${filename}`;
}

/** Product version keys for rows without a serial: the UTC publish time, YYYYMMDD_HH:MM. */
export function versionKey(publishedAt: Date): string {
  const iso = publishedAt.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 16)}`;
}

const SERIAL = /^(\d{4})(\d{2})(\d{2})[A-Za-z0-9_.:+-]{0,56}$/;

/**
 * The product version key of an image, from its metadata.yaml: `properties.serial` when it starts
 * with a real date (YYYYMMDD, which the client reads as the creation date; images built by
 * distrobuilder and trees mirrored from images.linuxcontainers.org carry one), else the image's
 * `creation_date` as YYYYMMDD_HH:MM. Either way the key is the image's own, so an imported image
 * keeps its source serial and date, and a re-render never changes it.
 */
export function streamsSerial(properties: Readonly<Record<string, string>>, creationDate: number) {
  const serial = properties.serial;
  const m = serial === undefined ? null : SERIAL.exec(serial);
  if (m) {
    const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    if (
      date.getUTCFullYear() === Number(m[1]) &&
      date.getUTCMonth() === Number(m[2]) - 1 &&
      date.getUTCDate() === Number(m[3])
    )
      return serial as string;
  }
  return versionKey(new Date(creationDate * 1000));
}

/**
 * Names of one version in the documents: `<image>/<version>` and `<image>/<alias>` for each alias,
 * with `/<variant>` after them for any variant but `default` (as images.linuxcontainers.org names
 * `debian/12/cloud`). The client itself adds `/<arch>` to each.
 */
export function streamsNames(
  imageName: string,
  version: string,
  aliases: readonly string[],
  variant: string,
): string[] {
  const suffix = variant === 'default' ? '' : `/${variant}`;
  return [version, ...aliases].map((n) => `${imageName}/${n}${suffix}`);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compare(a, b)));
}

function sortedItem(item: Item): Item {
  return sorted(item as unknown as Record<string, unknown>) as unknown as Item;
}

/**
 * Turns projection rows into the Simple Streams documents. The layout follows from how the Incus
 * client (lxc/incus v6.0.4 shared/simplestreams) reads them:
 * - a fingerprint must appear once in the whole document, or the client cannot resolve it;
 * - a product's aliases belong to every image of every version in it, and for each name, type and
 *   architecture the client keeps the first image in its own sort order.
 * So every product holds exactly one image — one fingerprint, one metadata item and one root item
 * under one version key — and carries exactly the names that must resolve to it: `<image>/<name>`
 * of every version, of any image, that ships those bytes, and of every alias on such a version.
 * A name then has at most one candidate per type and architecture, whatever the client's order,
 * and resolves to nothing where its version ships no such image. The product is named after the
 * first publication of its bytes: `<image>:<version>:<arch>:<variant>:<container|vm>`.
 * - Item paths are content-addressed (`itemPath`), so any reader allowed one of the images that
 *   ship the bytes can fetch them, whichever image published them first.
 * - The version key is the image's serial; its label is the version that first shipped it, so
 *   `incus image list` tells every image apart.
 * - An alias named like a version of its image is left out: refs resolve the version first.
 * - Rows with an architecture the client does not know, or a variant named like an architecture
 *   (its names would collide with `<name>/<arch>`), are left out.
 * Output key order is fixed, so equal input renders equal bytes on every API process.
 */
export function projectStreams(rows: readonly ProjectionInput[]): StreamsDocuments {
  const ordered = [...rows]
    .filter((r) => incusArchitectureKnown(r.architecture) && !incusArchitectureKnown(r.variant))
    .sort(
      (a, b) =>
        a.publishedAt.getTime() - b.publishedAt.getTime() ||
        compare(a.productKey, b.productKey) ||
        compare(a.imageType, b.imageType) ||
        compare(a.combinedSha256, b.combinedSha256),
    );

  const versionNames = new Set(ordered.map((r) => `${r.imageName}/${r.version}`));
  const products: Record<string, Product> = {};
  const productOf = new Map<string, { key: string; type: string; names: Set<string> }>();
  for (const row of ordered) {
    const aliases = row.aliases.filter((a) => !versionNames.has(`${row.imageName}/${a}`));
    const names = streamsNames(row.imageName, row.version, aliases, row.variant);
    const known = productOf.get(row.combinedSha256);
    if (known) {
      // Identical bytes cannot be two types; a row that says so could never resolve.
      if (known.type === row.imageType) for (const n of names) known.names.add(n);
      continue;
    }
    const vm = row.imageType === 'virtual-machine';
    const key = `${row.productKey}:${vm ? 'vm' : 'container'}`;
    productOf.set(row.combinedSha256, { key, type: row.imageType, names: new Set(names) });
    const rootName = row.rootPath.slice(row.rootPath.lastIndexOf('/') + 1);
    const items: Record<string, Item> = {
      [METADATA_FILENAME]: sortedItem({
        ftype: 'incus.tar.xz',
        path: itemPath(row.metadataSha256, METADATA_FILENAME),
        sha256: row.metadataSha256,
        size: row.metadataSizeBytes,
        ...(vm
          ? { 'combined_disk-kvm-img_sha256': row.combinedSha256 }
          : { combined_squashfs_sha256: row.combinedSha256 }),
      }),
      [vm ? 'disk.qcow2' : 'root.squashfs']: sortedItem({
        ftype: row.rootFtype,
        path: itemPath(row.rootSha256, rootName),
        sha256: row.rootSha256,
        size: row.rootSizeBytes,
      }),
    };
    products[key] = {
      aliases: '',
      arch: streamsArchitecture(row.architecture),
      os: row.operatingSystem,
      release: row.release,
      release_title: row.releaseTitle,
      variant: row.variant,
      versions: {
        [row.serial ?? versionKey(row.publishedAt)]: { items: sorted(items), label: row.version },
      },
    };
  }
  for (const { key, names } of productOf.values()) {
    products[key].aliases = [...names].sort(compare).join(',');
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
