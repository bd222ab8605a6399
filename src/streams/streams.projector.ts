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

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compare(a, b)));
}

function sortedItem(item: Item): Item {
  return sorted(item as unknown as Record<string, unknown>) as unknown as Item;
}

/** Whether the client can read a row: a known architecture, a variant not named like one. */
function eligible(row: ProjectionInput): boolean {
  return incusArchitectureKnown(row.architecture) && !incusArchitectureKnown(row.variant);
}

/** The projection's order: oldest publication first, then product key, type and bytes. */
export function projectionOrder(a: ProjectionInput, b: ProjectionInput): number {
  return (
    a.publishedAt.getTime() - b.publishedAt.getTime() ||
    compare(a.productKey, b.productKey) ||
    compare(a.imageType, b.imageType) ||
    compare(a.combinedSha256, b.combinedSha256)
  );
}

/** One product while rows are added: its key, names, and its JSON text but for the aliases. */
interface ProductDraft {
  readonly key: string;
  readonly type: string;
  /** `<image>/<version>[/<variant>]` of every version shipping the bytes. */
  readonly names: Set<string>;
  /** Alias names, each with the `<image>/<alias>` a version of that name would leave it out by. */
  readonly aliasNames: [versionLike: string, name: string][];
  /** The product object's members after `aliases`, as JSON text without the opening brace. */
  readonly rest: string;
}

/**
 * Text written twice: once to count its UTF-8 bytes, then into one buffer of exactly that size,
 * so a large document is never a string, nor pieces and their concatenation at once.
 */
function encodeTwice(write: (out: (text: string) => void) => void): Buffer {
  let size = 0;
  write((text) => (size += Buffer.byteLength(text)));
  const buffer = Buffer.allocUnsafe(size);
  let offset = 0;
  write((text) => (offset += buffer.write(text, offset)));
  if (offset !== size) throw new Error(`streams document wrote ${offset} of ${size} bytes`);
  return buffer;
}

/** Both documents as the bytes served: compact JSON with the projection's fixed key order. */
export interface ProjectedBytes {
  readonly index: Buffer;
  readonly images: Buffer;
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
 *
 * Rows are added in `projectionOrder`; each becomes, at once, its product's JSON text (or names
 * on a product already seen), so a catalog of many thousand versions is held as that text and
 * the names, never as an object tree, and the documents are written straight into their bytes.
 */
export class StreamsProjection {
  /** Products by the bytes (combined SHA-256) they hold. */
  private readonly products = new Map<string, ProductDraft>();
  /** `<image>/<version>` of every eligible row. */
  private readonly versionNames = new Set<string>();
  private last: ProjectionInput | undefined;

  /** Adds one row; rows come in `projectionOrder`. */
  add(row: ProjectionInput): void {
    if (this.last && projectionOrder(this.last, row) > 0)
      throw new Error('streams projection rows out of order');
    this.last = row;
    if (!eligible(row)) return;
    this.versionNames.add(`${row.imageName}/${row.version}`);
    // Names: `<image>/<version>` and `<image>/<alias>`, with `/<variant>` after them for any
    // variant but `default` (as images.linuxcontainers.org names `debian/12/cloud`); the client
    // itself adds `/<arch>` to each.
    const suffix = row.variant === 'default' ? '' : `/${row.variant}`;
    const known = this.products.get(row.combinedSha256);
    const draft = known ?? this.draft(row);
    if (!known) this.products.set(row.combinedSha256, draft);
    // Identical bytes cannot be two types; a row that says so could never resolve.
    else if (known.type !== row.imageType) return;
    draft.names.add(`${row.imageName}/${row.version}${suffix}`);
    for (const alias of row.aliases)
      draft.aliasNames.push([`${row.imageName}/${alias}`, `${row.imageName}/${alias}${suffix}`]);
  }

  /** Both documents, written out. */
  render(): ProjectedBytes {
    // A later product under an earlier one's key replaces it, as assigning the key would.
    const byKey = new Map<string, ProductDraft>();
    for (const draft of this.products.values()) byKey.set(draft.key, draft);
    const keys = [...byKey.keys()].sort(compare);
    const drafts = keys.map((key) => byKey.get(key) as ProductDraft);
    const heads = drafts.map((draft, i) => {
      const names = new Set(draft.names);
      for (const [versionLike, name] of draft.aliasNames)
        if (!this.versionNames.has(versionLike)) names.add(name);
      const aliases = [...names].sort(compare).join(',');
      return `${i ? ',' : ''}${JSON.stringify(draft.key)}:{"aliases":${JSON.stringify(aliases)},`;
    });
    const images = encodeTwice((out) => {
      out('{"content_id":"images","datatype":"image-downloads","format":"products:1.0"');
      out(',"products":{');
      drafts.forEach((draft, i) => {
        out(heads[i]);
        out(draft.rest);
      });
      out('}}');
    });
    const index = {
      format: 'index:1.0',
      index: {
        images: {
          datatype: 'image-downloads',
          path: 'streams/v1/images.json',
          format: 'products:1.0',
          products: keys,
        },
      },
    };
    return { index: Buffer.from(JSON.stringify(index)), images };
  }

  private draft(row: ProjectionInput): ProductDraft {
    const vm = row.imageType === 'virtual-machine';
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
    const product: Omit<Product, 'aliases'> = {
      arch: streamsArchitecture(row.architecture),
      os: row.operatingSystem,
      release: row.release,
      release_title: row.releaseTitle,
      variant: row.variant,
      versions: {
        [row.serial ?? versionKey(row.publishedAt)]: { items: sorted(items), label: row.version },
      },
    };
    return {
      key: `${row.productKey}:${vm ? 'vm' : 'container'}`,
      type: row.imageType,
      names: new Set(),
      aliasNames: [],
      rest: JSON.stringify(product).slice(1),
    };
  }
}

/** Sorts rows into `projectionOrder`, in place. */
export function sortForProjection<T extends ProjectionInput>(rows: T[]): T[] {
  return rows.sort(projectionOrder);
}

/** The projection's bytes of these rows, in any order. */
export function projectStreamsBytes(rows: readonly ProjectionInput[]): ProjectedBytes {
  const projection = new StreamsProjection();
  for (const row of sortForProjection([...rows])) projection.add(row);
  return projection.render();
}

/** The documents of these rows as objects (what `projectStreamsBytes` serves, parsed). */
export function projectStreams(rows: readonly ProjectionInput[]): StreamsDocuments {
  const bytes = projectStreamsBytes(rows);
  return {
    index: JSON.parse(bytes.index.toString('utf8')) as object,
    images: JSON.parse(bytes.images.toString('utf8')) as StreamsDocuments['images'],
  };
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
