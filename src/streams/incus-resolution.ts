import { incusArchitectureName } from '../incus/architecture';

/**
 * How the Incus client resolves names in a products document, written line for line after
 * lxc/incus v6.0.4: `Products.ToAPI` (shared/simplestreams/products.go), `applyAliases`,
 * `GetAlias`, `GetAliasArchitectures`, `GetImage` (shared/simplestreams/simplestreams.go), the
 * two sort orders (shared/simplestreams/sort.go) and `GetImageAlias`
 * (client/simplestreams_images.go). The tests check imgsrv's documents against it; nothing in
 * the server depends on it.
 *
 * Go's `sort.Sort` is not stable and Go's map order is random: the caller gives the order in
 * which products and versions are visited (`order`), and a stable sort of that order stands for
 * one of the orders the client may produce.
 */

export interface ClientImage {
  readonly fingerprint: string;
  /** `container` or `virtual-machine`. */
  readonly type: string;
  /** The client's architecture name (`x86_64`). */
  readonly architecture: string;
  readonly properties: Readonly<Record<string, string>>;
  /** The product's aliases, before the client derives `<alias>/<arch>`. */
  readonly productAliases: readonly string[];
  /** meta and root: [path, sha256]. */
  readonly files: { readonly meta: [string, string]; readonly root?: [string, string] };
}

export interface ClientAlias {
  readonly name: string;
  readonly type: string;
  readonly architecture: string;
  readonly target: string;
}

interface DocItem {
  ftype: string;
  path: string;
  sha256?: string;
  size: number;
  [combined: string]: unknown;
}

interface DocProduct {
  aliases?: string;
  arch: string;
  os?: string;
  release?: string;
  variant?: string;
  versions: Record<string, { items: Record<string, DocItem>; label?: string }>;
}

export interface ProductsDocument {
  products: Record<string, DocProduct>;
}

const ROOT_TYPES = ['disk1.img', 'disk-kvm.img', 'uefi1.img', 'root.tar.xz', 'squashfs'];

function fingerprintOf(meta: DocItem, root: DocItem): string {
  const field = (name: string) => (typeof meta[name] === 'string' ? (meta[name] as string) : '');
  switch (root.ftype) {
    case 'root.tar.xz':
      return field('combined_rootxz_sha256') || field('combined_sha256');
    case 'squashfs':
      return field('combined_squashfs_sha256');
    case 'disk-kvm.img':
      return field('combined_disk-kvm-img_sha256');
    case 'disk1.img':
      return field('combined_disk1-img_sha256');
    default:
      return field('combined_uefi1-img_sha256');
  }
}

/** `Products.ToAPI`: every (metadata item × root item) pair of every version is an image. */
export function clientImages(
  doc: ProductsDocument,
  order: (keys: string[]) => string[] = (k) => k,
): ClientImage[] {
  const images: ClientImage[] = [];
  for (const productKey of order(Object.keys(doc.products))) {
    const product = doc.products[productKey];
    const architecture = incusArchitectureName(product.arch);
    if (architecture === undefined) continue;
    for (const name of order(Object.keys(product.versions))) {
      if (name.length < 8 || !/^\d{8}$/.test(name.slice(0, 8))) continue;
      const version = product.versions[name];
      const items = order(Object.keys(version.items)).map((k) => version.items[k]);
      for (const meta of items) {
        if (meta.ftype !== 'incus.tar.xz') continue;
        for (const root of items) {
          if (!ROOT_TYPES.includes(root.ftype)) continue;
          const fingerprint = fingerprintOf(meta, root);
          if (fingerprint === '' || !meta.path) continue;
          const properties: Record<string, string> = {
            os: product.os ?? '',
            release: product.release ?? '',
            architecture: product.arch,
            label: version.label ?? '',
            serial: name,
            type: root.ftype,
          };
          if (product.variant) properties.variant = product.variant;
          for (const k of Object.keys(properties)) if (properties[k] === '') delete properties[k];
          images.push({
            fingerprint,
            type: ['disk1.img', 'disk-kvm.img', 'uefi1.img'].includes(root.ftype)
              ? 'virtual-machine'
              : 'container',
            architecture,
            properties,
            productAliases: product.aliases ? product.aliases.split(',') : [],
            files: { meta: [meta.path, meta.sha256 ?? ''], root: [root.path, root.sha256 ?? ''] },
          });
        }
      }
    }
  }
  return images;
}

const TYPE_PREFERENCE = ['squashfs', 'root.tar.xz', 'disk-kvm.img', 'uefi1.img', 'disk1.img'];

/** sortedImages.Less, including its quirk of never ordering an image without a property first. */
function imageLess(a: ClientImage, b: ClientImage): boolean {
  for (const prop of ['os', 'release', 'variant', 'serial', 'architecture']) {
    const x = a.properties[prop] ?? '';
    const y = b.properties[prop] ?? '';
    if (x === y) continue;
    if (x === '') return false;
    return prop === 'serial' ? x > y : x < y;
  }
  if (a.properties.type !== b.properties.type) {
    const score = (t: string | undefined) => Math.max(0, TYPE_PREFERENCE.indexOf(t ?? ''));
    return score(a.properties.type) < score(b.properties.type);
  }
  return false;
}

function stableSort<T>(list: readonly T[], less: (a: T, b: T) => boolean): T[] {
  return list
    .map((v, i) => ({ v, i }))
    .sort((p, q) => (less(p.v, q.v) ? -1 : less(q.v, p.v) ? 1 : p.i - q.i))
    .map((p) => p.v);
}

/** `applyAliases`: the first image in sort order takes each (name, type, architecture). */
export function clientAliases(images: readonly ClientImage[]): ClientAlias[] {
  const list: ClientAlias[] = [];
  const add = (type: string, architecture: string, name: string, target: string) => {
    if (list.some((e) => e.name === name && e.type === type && e.architecture === architecture))
      return;
    list.push({ name, type, architecture, target });
  };
  for (const image of stableSort(images, imageLess)) {
    for (const name of image.productAliases) {
      add(image.type, image.architecture, name, image.fingerprint);
      add(
        image.type,
        image.architecture,
        `${name}/${image.properties.architecture}`,
        image.fingerprint,
      );
    }
  }
  return list;
}

/** sortedAliases: the host's architecture first, then its personalities (x86_64 runs i686). */
function aliasOrder(list: readonly ClientAlias[], native: string): ClientAlias[] {
  const personalities: Record<string, string[]> = {
    x86_64: ['i686'],
    aarch64: ['armv6l', 'armv7l', 'armv8l'],
    armv7l: ['armv6l'],
    armv8l: ['armv6l', 'armv7l'],
    ppc64: ['ppc'],
    mips64: ['mips'],
  };
  const rank = (arch: string) =>
    arch === native ? 0 : (personalities[native] ?? []).includes(arch) ? 1 : 2;
  return stableSort(
    list,
    (a, b) => a.architecture !== b.architecture && rank(a.architecture) < rank(b.architecture),
  );
}

export class ClientError extends Error {}

/** `SimpleStreams.GetAlias(imageType, name)`; imageType '' matches any type. */
export function getAlias(
  list: readonly ClientAlias[],
  type: string,
  name: string,
  native = 'x86_64',
): ClientAlias {
  let match: ClientAlias | undefined;
  for (const entry of aliasOrder(list, native)) {
    if (entry.name !== name) continue;
    if (entry.type !== type && type !== '') continue;
    if (match) {
      if (match.type !== entry.type)
        throw new ClientError(`More than one match for alias '${name}'`);
      continue;
    }
    match = entry;
  }
  if (!match) throw new ClientError(`Alias '${name}' doesn't exist`);
  return match;
}

/** `ProtocolSimpleStreams.GetImageAliasType`: with no type, a container first, then a VM. */
export function getImageAliasType(
  list: readonly ClientAlias[],
  type: string,
  name: string,
  native = 'x86_64',
): ClientAlias {
  if (type !== '') return getAlias(list, type, name, native);
  try {
    return getAlias(list, 'container', name, native);
  } catch {
    return getAlias(list, 'virtual-machine', name, native);
  }
}

/** `SimpleStreams.GetAliasArchitectures`: architecture → target fingerprint. */
export function getAliasArchitectures(
  list: readonly ClientAlias[],
  type: string,
  name: string,
): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of list) {
    if (entry.name !== name) continue;
    if (entry.type !== type && type !== '') continue;
    if (found.has(entry.architecture))
      throw new ClientError(`More than one match for alias '${name}'`);
    found.set(entry.architecture, entry.target);
  }
  if (found.size === 0) throw new ClientError(`Alias '${name}' doesn't exist`);
  return found;
}

/** `SimpleStreams.GetImage`: a (partial) fingerprint must match exactly one image. */
export function getImage(images: readonly ClientImage[], fingerprint: string): ClientImage {
  const matches = images.filter((i) => i.fingerprint.startsWith(fingerprint));
  if (matches.length === 0) throw new ClientError("The requested image couldn't be found");
  if (matches.length > 1)
    throw new ClientError('More than one match for the provided partial fingerprint');
  return matches[0];
}
