/**
 * Reading an Incus Simple Streams tree (as `incus-simplestreams` writes one): the index names the
 * products document; each product (os, release, variant, arch) has versions whose items are an
 * `incus.tar.xz` metadata tarball and root images (`squashfs` for containers, `disk-kvm.img` for
 * VMs). Pure: selection and naming only.
 */

import { normalizeArchitecture } from '../incus/architecture';

export interface StreamsItem {
  readonly ftype: string;
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** On the metadata item: the Incus fingerprint of each root it pairs with. */
  readonly combined_squashfs_sha256?: string;
  readonly 'combined_disk-kvm-img_sha256'?: string;
}

export interface StreamsProduct {
  readonly aliases?: string;
  readonly arch: string;
  readonly os: string;
  readonly release: string;
  readonly variant?: string;
  readonly versions: Record<string, { items: Record<string, StreamsItem> }>;
}

export interface ProductsDocument {
  readonly products: Record<string, StreamsProduct>;
}

export interface IndexDocument {
  readonly index: Record<string, { datatype?: string; path: string; products?: string[] }>;
}

/** The products documents an index names (image-downloads only). */
export function productPaths(index: IndexDocument): string[] {
  return Object.values(index.index)
    .filter((e) => !e.datatype || e.datatype === 'image-downloads')
    .map((e) => e.path);
}

/** One root image of a source version, with the metadata tarball it pairs with. */
export interface ImportArtifact {
  readonly format: 'squashfs' | 'qcow2';
  readonly root: StreamsItem;
  readonly metadata: StreamsItem;
}

export interface ImportVersion {
  readonly product: string;
  readonly image: string;
  readonly version: string;
  readonly os: string;
  readonly release: string;
  readonly arch: string;
  readonly variant: string;
  readonly aliases: string[];
  readonly artifacts: ImportArtifact[];
  /** Items left behind (delta files, unified tarballs), for the report. */
  readonly skipped: string[];
}

/** `debian-12`: lower case, anything outside the image name alphabet becomes `-`. */
export function imageNameOf(os: string, release: string): string {
  return `${os}-${release}`
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 128);
}

/** `Debian/12/default` → `Debian-12-default` (imgsrv alias names have no `/`). */
export function aliasNameOf(sourceAlias: string): string {
  return sourceAlias
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
}

/**
 * The imgsrv alias a mirrored upstream alias becomes on `image`: imgsrv publishes an alias as
 * `<image>/<alias>` (and `<image>/<alias>/<variant>` for other variants than `default`), so the
 * image's name and the variant are taken off the upstream name where it carries them. With an
 * image named like the upstream's prefix (`debian` for `debian/12`), Incus hosts see the very
 * names the upstream serves.
 */
export function mirroredAliasName(sourceAlias: string, image: string, variant: string): string {
  let name = sourceAlias;
  if (name.toLowerCase().startsWith(`${image.toLowerCase()}/`)) name = name.slice(image.length + 1);
  const suffix = `/${variant.toLowerCase()}`;
  if (variant !== 'default' && name.toLowerCase().endsWith(suffix))
    name = name.slice(0, -suffix.length);
  return aliasNameOf(name);
}

const ROOT_FORMATS: Record<string, ImportArtifact['format']> = {
  squashfs: 'squashfs',
  'disk-kvm.img': 'qcow2',
};

/** Every (product, version) of the document as the imgsrv version it becomes. */
export function importVersions(doc: ProductsDocument): ImportVersion[] {
  const out: ImportVersion[] = [];
  for (const [key, p] of Object.entries(doc.products)) {
    for (const [version, { items }] of Object.entries(p.versions ?? {})) {
      const all = Object.entries(items);
      const metadata = all.find(([, i]) => i.ftype === 'incus.tar.xz')?.[1];
      const artifacts: ImportArtifact[] = [];
      const skipped: string[] = [];
      for (const [name, item] of all) {
        const format = ROOT_FORMATS[item.ftype];
        if (format && metadata) artifacts.push({ format, root: item, metadata });
        else if (item.ftype !== 'incus.tar.xz') skipped.push(name);
      }
      out.push({
        product: key,
        image: imageNameOf(p.os, p.release),
        version,
        os: p.os,
        release: p.release,
        arch: p.arch,
        variant: p.variant ?? 'default',
        aliases: (p.aliases ?? '')
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean),
        artifacts,
        skipped,
      });
    }
  }
  return out.sort((a, b) =>
    a.image === b.image
      ? a.version.localeCompare(b.version) || a.product.localeCompare(b.product)
      : a.image.localeCompare(b.image),
  );
}

const FILTER_KEYS = ['os', 'release', 'arch', 'variant', 'image', 'type', 'alias'];

/** The instance types a filter names: `container`, or `virtual-machine` (also `vm`). */
const TYPE_FORMATS: Record<string, ImportArtifact['format']> = {
  container: 'squashfs',
  'virtual-machine': 'qcow2',
  vm: 'qcow2',
};

/**
 * `os=debian,arch=amd64,type=container,alias=debian/12*`: keys os, release, arch, variant, image,
 * type (container, virtual-machine or vm) and alias (a glob over the product's aliases, `*` any
 * run of characters, `?` one); values match case-insensitively.
 */
export function parseFilter(text: string | undefined): Record<string, string> {
  const filter: Record<string, string> = {};
  if (!text) return filter;
  for (const part of text.split(',')) {
    const [key, value] = part.split('=');
    if (!key || value === undefined || !FILTER_KEYS.includes(key)) {
      throw new Error(`--filter takes key=value pairs of ${FILTER_KEYS.join(', ')}: ${part}`);
    }
    if (key === 'type' && !(value.toLowerCase() in TYPE_FORMATS))
      throw new Error(`--filter type= takes container, virtual-machine or vm: ${part}`);
    filter[key] = value.toLowerCase();
  }
  return filter;
}

/** Whether `text` matches `glob` (`*` any run of characters, `?` one), ignoring case. */
export function globMatches(glob: string, text: string): boolean {
  const pattern = glob
    .toLowerCase()
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${pattern}$`, 'su').test(text.toLowerCase());
}

const sameArch = (a: string, b: string) => normalizeArchitecture(a) === normalizeArchitecture(b);

/**
 * Filters, then keeps the newest `latest` versions of each product (0: all). A `type` filter
 * keeps only the artifacts of that instance type, and versions left with none go.
 */
export function selectVersions(
  versions: readonly ImportVersion[],
  filter: Record<string, string>,
  latest = 0,
): ImportVersion[] {
  const format = filter.type === undefined ? undefined : TYPE_FORMATS[filter.type];
  const matching = versions
    .filter((v) =>
      Object.entries(filter).every(([key, want]) => {
        if (key === 'type') return true;
        if (key === 'alias') return v.aliases.some((a) => globMatches(want, a));
        const have = String(v[key as keyof ImportVersion]).toLowerCase();
        return key === 'arch' ? sameArch(have, want) : have === want;
      }),
    )
    .map((v) =>
      format === undefined
        ? v
        : { ...v, artifacts: v.artifacts.filter((a) => a.format === format) },
    )
    .filter((v) => format === undefined || v.artifacts.length > 0);
  if (!latest) return matching;
  const byProduct = new Map<string, ImportVersion[]>();
  for (const v of matching) byProduct.set(v.product, [...(byProduct.get(v.product) ?? []), v]);
  const keep = new Set<ImportVersion>();
  for (const list of byProduct.values()) {
    for (const v of [...list].sort((a, b) => b.version.localeCompare(a.version)).slice(0, latest)) {
      keep.add(v);
    }
  }
  return matching.filter((v) => keep.has(v));
}

/** The fingerprint the tree declares for an artifact (its metadata item's combined hash). */
export function declaredFingerprint(artifact: ImportArtifact): string | undefined {
  return artifact.format === 'qcow2'
    ? artifact.metadata['combined_disk-kvm-img_sha256']
    : artifact.metadata.combined_squashfs_sha256;
}

/** Every combined fingerprint a products document lists under products whose key starts so. */
export function fingerprintsUnder(doc: ProductsDocument, keyPrefix: string): Set<string> {
  const found = new Set<string>();
  for (const [key, product] of Object.entries(doc.products ?? {})) {
    if (!key.startsWith(keyPrefix)) continue;
    for (const { items } of Object.values(product.versions ?? {})) {
      for (const item of Object.values(items)) {
        for (const value of [item.combined_squashfs_sha256, item['combined_disk-kvm-img_sha256']]) {
          if (value) found.add(value);
        }
      }
    }
  }
  return found;
}
