import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  makeIncusMetadata,
  makeQcow2,
  makeSquashfs,
  seededBytes,
  type FixtureFile,
} from './fixtures';

/** One upstream image version of a generated tree (as images.linuxcontainers.org lists them). */
export interface UpstreamImage {
  /** As the upstream spells it: `debian`, `alpine`. */
  readonly os: string;
  readonly release: string;
  /** Incus architecture names: `amd64`, `arm64`. */
  readonly arch: string;
  readonly variant: string;
  /** `20261201_05:24`. */
  readonly serial: string;
  readonly container: boolean;
  readonly vm: boolean;
  /** The product's aliases (the product carries them for all its versions). */
  readonly aliases: readonly string[];
  /** Bytes of seeded data in the root filesystem (makes big roots for transfer tests). */
  readonly padBytes?: number;
}

export interface TreeFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface GeneratedTree {
  /** Every file the tree's index lists, by path. */
  readonly files: Map<string, TreeFile>;
  /** The combined Incus fingerprint of each (product key, serial, type). */
  readonly fingerprints: Map<string, string>;
}

const sha256Of = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

async function place(root: string, path: string, file: FixtureFile): Promise<TreeFile> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await copyFile(file.path, join(root, path));
  return { path, sha256: file.sha256.replace(/^sha256:/, ''), size: file.size };
}

/**
 * Writes (or, when `root` holds one, extends) a Simple Streams tree shaped like images.linuxcontainers.org's (lxc-ci): products
 * `os:release:arch:variant` holding several serials each, every serial one `incus.tar.xz` shared by
 * its container (`root.squashfs`) and VM (`disk.qcow2`) with both combined fingerprints, delta
 * files beside them, and paths `images/<os>/<release>/<arch>/<variant>/<serial>/…`.
 */
export async function writeLxcCiTree(
  root: string,
  fixtures: string,
  images: readonly UpstreamImage[],
): Promise<GeneratedTree> {
  // Images added to a tree already written join its products (their files stay as they are).
  const existing = await readFile(join(root, 'streams/v1/images.json'), 'utf8').then(
    (text) => JSON.parse(text).products as Record<string, any>,
    () => ({}),
  );
  const products: Record<string, any> = existing;
  const files = new Map<string, TreeFile>();
  const fingerprints = new Map<string, string>();
  for (const image of images) {
    const key = `${image.os}:${image.release}:${image.arch}:${image.variant}`;
    const dir = `images/${image.os}/${image.release}/${image.arch}/${image.variant}/${image.serial}`;
    const seed = `${key}:${image.serial}`;
    const [y, mo, d, h, mi] = /^(\d{4})(\d{2})(\d{2})_(\d{2}):(\d{2})$/
      .exec(image.serial)!
      .slice(1)
      .map(Number);
    const meta = await makeIncusMetadata(fixtures, {
      architecture:
        image.arch === 'amd64' ? 'x86_64' : image.arch === 'arm64' ? 'aarch64' : image.arch,
      os: image.os,
      release: image.release,
      variant: image.variant,
      type: 'container',
      serial: image.serial,
      creationDate: Date.UTC(y, mo - 1, d, h, mi) / 1000,
    });
    const items: Record<string, any> = {};
    const metaItem = await place(root, `${dir}/incus.tar.xz`, meta);
    files.set(metaItem.path, metaItem);
    items['incus.tar.xz'] = { ftype: 'incus.tar.xz', ...metaItem };
    const metaBytes = await readFile(meta.path);
    const combined = async (rootFile: FixtureFile) =>
      createHash('sha256')
        .update(metaBytes)
        .update(await readFile(rootFile.path))
        .digest('hex');
    if (image.container) {
      const squash = await makeSquashfs(fixtures, {
        seed,
        files: image.padBytes ? { 'var/pad': seededBytes(`${seed}:pad`, image.padBytes) } : {},
      });
      const item = await place(root, `${dir}/rootfs.squashfs`, squash);
      files.set(item.path, item);
      items['root.squashfs'] = { ftype: 'squashfs', ...item };
      const fp = await combined(squash);
      items['incus.tar.xz'].combined_squashfs_sha256 = fp;
      fingerprints.set(`${key} ${image.serial} container`, fp);
      // A delta to the previous serial, which a mirror leaves alone.
      const delta = join(fixtures, `${seed.replace(/[^a-z0-9]/gi, '_')}.vcdiff`);
      await writeFile(delta, seededBytes(`${seed}:delta`, 1024));
      const deltaItem = await place(root, `${dir}/delta.vcdiff`, {
        path: delta,
        sha256: `sha256:${await sha256Of(delta)}`,
        size: 1024,
      });
      items['delta-base.vcdiff'] = { ftype: 'squashfs.vcdiff', delta_base: 'x', ...deltaItem };
    }
    if (image.vm) {
      const qcow = await makeQcow2(fixtures, { seed });
      const item = await place(root, `${dir}/disk.qcow2`, qcow);
      files.set(item.path, item);
      items['disk.qcow2'] = { ftype: 'disk-kvm.img', ...item };
      const fp = await combined(qcow);
      items['incus.tar.xz']['combined_disk-kvm-img_sha256'] = fp;
      fingerprints.set(`${key} ${image.serial} virtual-machine`, fp);
    }
    products[key] ??= {
      aliases: image.aliases.join(','),
      arch: image.arch,
      os: image.os.charAt(0).toUpperCase() + image.os.slice(1),
      release: image.release,
      release_title: image.release,
      variant: image.variant,
      requirements: {},
      versions: {},
    };
    products[key].versions[image.serial] = { items };
  }
  await mkdir(join(root, 'streams/v1'), { recursive: true });
  await writeFile(
    join(root, 'streams/v1/images.json'),
    JSON.stringify({
      content_id: 'images',
      datatype: 'image-downloads',
      format: 'products:1.0',
      products,
    }),
  );
  await writeFile(
    join(root, 'streams/v1/index.json'),
    JSON.stringify({
      format: 'index:1.0',
      index: {
        images: {
          datatype: 'image-downloads',
          path: 'streams/v1/images.json',
          format: 'products:1.0',
          products: Object.keys(products).sort(),
        },
      },
    }),
  );
  return { files, fingerprints };
}
