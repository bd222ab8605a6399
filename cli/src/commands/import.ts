import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request, type Dispatcher } from 'undici';
import { normalizeArchitecture } from '../../../src/incus/architecture';
import { makeDispatcher, type Schemas } from '../client/api-client';
import { call } from '../api';
import { emitJson, note, say, type CliContext } from '../context';
import { CliError, EXIT, UsageError } from '../errors';
import {
  aliasNameOf,
  declaredFingerprint,
  fingerprintsUnder,
  importVersions,
  parseFilter,
  productPaths,
  selectVersions,
  type ImportArtifact,
  type ImportVersion,
  type IndexDocument,
  type ProductsDocument,
  type StreamsItem,
} from '../../../src/simplestreams/reader';
import { uploadFile, type UploadOptions } from '../upload';
import { publishAndWait, setAlias } from './push';

type Manifest = Schemas['ManifestResponseDto'];

export interface ImportInput {
  readonly source: string;
  readonly filter?: string;
  readonly latest: number;
  readonly aliasFromSource: boolean;
  readonly sourceCaFile?: string;
  readonly upload: UploadOptions;
}

/** A tree on disk or behind http(s): reads documents and streams items. */
class Source {
  private readonly dispatcher?: Dispatcher;
  readonly remote: boolean;
  constructor(
    readonly root: string,
    caFile?: string,
  ) {
    this.remote = /^https?:\/\//.test(root);
    if (this.remote) this.dispatcher = makeDispatcher(caFile);
  }

  private where(path: string): string {
    return this.remote
      ? `${this.root.replace(/\/+$/, '')}/${path}`
      : join(resolve(this.root), path);
  }

  async json<T>(path: string): Promise<T> {
    try {
      if (!this.remote) return JSON.parse(await readFile(this.where(path), 'utf8')) as T;
      const res = await request(this.where(path), { dispatcher: this.dispatcher });
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`HTTP ${res.statusCode}`);
      }
      return (await res.body.json()) as T;
    } catch (error) {
      throw new CliError(
        `cannot read ${this.where(path)}: ${(error as Error).message}`,
        EXIT.client,
      );
    }
  }

  /** Copies the item to `file`, hashing on the way; refuses a wrong sha256 or size. */
  async fetchVerified(item: StreamsItem, file: string): Promise<void> {
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const where = this.where(item.path);
    try {
      if (this.remote) {
        const res = await request(where, { dispatcher: this.dispatcher });
        if (res.statusCode !== 200) {
          await res.body.dump();
          throw new Error(`HTTP ${res.statusCode}`);
        }
        await pipeline(res.body, tap, createWriteStream(file));
      } else {
        await pipeline(createReadStream(where), tap, createWriteStream(file));
      }
    } catch (error) {
      throw new CliError(`cannot fetch ${where}: ${(error as Error).message}`, EXIT.client);
    }
    const got = hash.digest('hex');
    if (got !== item.sha256 || size !== item.size) {
      throw new CliError(
        `${where} does not match the tree: sha256 ${got} (${size} bytes), expected ${item.sha256} (${item.size} bytes)`,
        EXIT.client,
      );
    }
  }
}

interface Report {
  image: string;
  version: string;
  outcome: 'imported' | 'unchanged';
  downloaded_bytes: number;
  uploaded_bytes: number;
  /** Fingerprints the tree declared that imgsrv does not serve (see compareFingerprints). */
  fingerprint_mismatches: string[];
}

/** import simplestreams SOURCE: brings the selected versions in, idempotently. */
export async function importSimplestreams(ctx: CliContext, input: ImportInput): Promise<void> {
  let filter: Record<string, string>;
  try {
    filter = parseFilter(input.filter);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const source = new Source(input.source, input.sourceCaFile);
  const index = await source.json<IndexDocument>('streams/v1/index.json');
  const versions: ImportVersion[] = [];
  for (const path of productPaths(index)) {
    versions.push(...importVersions(await source.json<ProductsDocument>(path)));
  }
  const selected = selectVersions(versions, filter, input.latest);
  // Products of one os/release (architectures, variants) share an imgsrv image and version.
  const groups = new Map<string, ImportVersion[]>();
  for (const v of selected) {
    const key = `${v.image} ${v.version}`;
    groups.set(key, [...(groups.get(key) ?? []), v]);
  }
  const work = await mkdtemp(join(tmpdir(), 'imgsrv-import-'));
  const reports: Report[] = [];
  try {
    for (const group of groups.values()) {
      reports.push(await importVersion(ctx, source, group, input.upload, work));
    }
    const aliases = [];
    if (input.aliasFromSource) {
      // A source alias follows its product's newest version, as the Incus client resolves it.
      const newest = new Map<string, ImportVersion>();
      for (const v of selected) {
        for (const a of v.aliases) {
          const key = `${v.image} ${aliasNameOf(a)}`;
          const current = newest.get(key);
          if (!current || current.version < v.version) newest.set(key, v);
        }
      }
      for (const [key, v] of newest) {
        const name = key.slice(v.image.length + 1);
        const existing = await call(
          `reading alias ${name}`,
          ctx.client.GET('/v1/images/{name}/aliases/{alias}', {
            params: { path: { name: v.image, alias: name } },
          }),
          [404],
        );
        if (existing?.version === v.version) continue;
        aliases.push(await setAlias(ctx, v.image, name, v.version));
      }
    }
    const imported = reports.filter((r) => r.outcome === 'imported').length;
    if (ctx.json) {
      emitJson(ctx, { versions: reports, aliases_moved: aliases.length });
    } else {
      say(
        ctx,
        `import: ${imported} version(s) imported, ${reports.length - imported} unchanged, ${aliases.length} alias(es) moved`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function importVersion(
  ctx: CliContext,
  source: Source,
  group: ImportVersion[],
  upload: UploadOptions,
  work: string,
): Promise<Report> {
  const { image, version } = group[0];
  const report: Report = {
    image,
    version,
    outcome: 'unchanged',
    downloaded_bytes: 0,
    uploaded_bytes: 0,
    fingerprint_mismatches: [],
  };
  const wanted = group.flatMap((v) =>
    v.artifacts.map((a) => ({
      ...a,
      os: v.os,
      arch: v.arch,
      variant: v.variant,
    })),
  );
  for (const v of group) {
    for (const s of v.skipped) note(ctx, `${v.product} ${v.version}: skipping item ${s}`);
  }
  const versionPath = { params: { path: { name: image, version } } };
  let manifest = await call<Manifest | undefined>(
    `reading ${image} ${version}`,
    ctx.client.GET('/v1/images/{name}/versions/{version}', versionPath),
    [404],
  );
  const present = (w: (typeof wanted)[number], m: Manifest | undefined) =>
    m?.artifacts.find(
      (a) =>
        a.artifact.format === w.format &&
        a.artifact.architecture === normalizeArchitecture(w.arch) &&
        a.artifact.variant === w.variant &&
        a.artifact.operating_system === w.os,
    );
  if (manifest && manifest.version.state !== 'draft') {
    const missing = wanted.filter((w) => present(w, manifest) === undefined);
    if (missing.length) {
      note(
        ctx,
        `${image} ${version} is ${manifest.version.state} without ${missing.length} artifact(s) of the source; left as it is`,
      );
    }
    if (manifest.version.state === 'publishing') await publishAndWait(ctx, image, version);
    return report;
  }
  report.outcome = 'imported';
  note(ctx, `importing ${image} ${version}`);

  // Blobs first: a trusted digest moves nothing; otherwise fetch, verify, upload.
  const blobs = new Map<string, StreamsItem>();
  for (const w of wanted) {
    blobs.set(w.root.sha256, w.root);
    blobs.set(w.metadata.sha256, w.metadata);
  }
  for (const item of blobs.values()) {
    if (await trusted(ctx, item.sha256)) continue;
    const file = join(work, item.sha256);
    await source.fetchVerified(item, file);
    report.downloaded_bytes += item.size;
    const result = await uploadFile(ctx, file, { ...upload, label: item.path });
    report.uploaded_bytes += result.sent_bytes;
    await rm(file, { force: true });
  }

  const existing = await call(
    `reading image ${image}`,
    ctx.client.GET('/v1/images/{name}', { params: { path: { name: image } } }),
    [404],
  );
  if (!existing) {
    await call(
      `creating image ${image}`,
      ctx.client.POST('/v1/images', {
        body: { name: image, description: `${group[0].os} ${group[0].release}` },
      }),
      [409],
    );
  }
  if (!manifest) {
    await call(
      `creating ${image} ${version}`,
      ctx.client.POST('/v1/images/{name}/versions', {
        params: { path: { name: image } },
        body: { version },
      }),
    );
    manifest = undefined;
  }
  for (const w of wanted) {
    const have = present(w, manifest);
    // An artifact a crashed run left without its metadata tarball gets it now.
    if (have?.attachments.some((a) => a.name === 'incus.tar.xz')) continue;
    const artifact =
      have?.artifact ??
      (await call(
        `adding ${w.format} ${w.arch} to ${image} ${version}`,
        ctx.client.POST('/v1/images/{name}/versions/{version}/artifacts', {
          ...versionPath,
          body: {
            variant: w.variant,
            operating_system: w.os,
            architecture: w.arch,
            format: w.format,
            primary_blob_digest: `sha256:${w.root.sha256}`,
            primary_blob_size_bytes: w.root.size,
            primary_media_type:
              w.format === 'qcow2' ? 'application/x-qemu-disk' : 'application/vnd.squashfs',
          },
        }),
      ));
    await call(
      'attaching incus.tar.xz',
      ctx.client.POST('/v1/images/{name}/versions/{version}/artifacts/{artifact_id}/attachments', {
        params: { path: { name: image, version, artifact_id: artifact.id } },
        body: {
          name: 'incus.tar.xz',
          media_type: 'application/x-xz',
          blob_digest: `sha256:${w.metadata.sha256}`,
          blob_size_bytes: w.metadata.size,
        },
      }),
    );
  }
  await publishAndWait(ctx, image, version);
  await compareFingerprints(ctx, image, version, wanted, report);
  return report;
}

/**
 * Incus hosts know images by fingerprint: warn when imgsrv serves an artifact under another
 * fingerprint than the tree declared (a tree whose VM and container metadata tarballs differ keeps
 * only one of them, and declares a fingerprint of bytes it does not serve).
 */
async function compareFingerprints(
  ctx: CliContext,
  image: string,
  version: string,
  wanted: ImportArtifact[],
  report: Report,
): Promise<void> {
  const served = await call(
    'reading the streams document',
    ctx.client.GET('/streams/v1/images.json'),
  );
  const have = fingerprintsUnder(served as unknown as ProductsDocument, `${image}:${version}:`);
  for (const w of wanted) {
    const declared = declaredFingerprint(w);
    if (!declared || have.has(declared)) continue;
    report.fingerprint_mismatches.push(declared);
    note(
      ctx,
      `warning: ${image} ${version} ${w.format}: the tree declares fingerprint ${declared}, but its files give another (the tree's metadata and root do not match that fingerprint)`,
    );
  }
}

/** HEAD /v1/blobs/{digest}: 200 when the server trusts it. */
async function trusted(ctx: CliContext, hex: string): Promise<boolean> {
  const res = await request(`${ctx.connection.url}/v1/blobs/sha256:${hex}`, {
    method: 'HEAD',
    dispatcher: ctx.dispatcher,
    headers: ctx.connection.token ? { authorization: `Bearer ${ctx.connection.token}` } : {},
  });
  await res.body.dump();
  if (res.statusCode === 200) return true;
  if (res.statusCode === 404) return false;
  throw new CliError(
    `checking blob sha256:${hex}: HTTP ${res.statusCode}`,
    res.statusCode === 401 || res.statusCode === 403 ? EXIT.auth : EXIT.server,
  );
}
