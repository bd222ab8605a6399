import { existsSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { normalizeArchitecture } from '../../../src/incus/architecture';
import type { Schemas } from '../client/api-client';
import { call } from '../api';
import { emitJson, note, say, type CliContext } from '../context';
import { CliError, EXIT, UsageError } from '../errors';
import { watchJob } from '../jobs';
import { readIncusMetadata } from '../metadata';
import { uploadFile, type UploadOptions, type UploadResult } from '../upload';

type Manifest = Schemas['ManifestResponseDto'];
type Job = Schemas['PublishJobResponseDto'];

export interface PushInput {
  readonly image: string;
  readonly version: string;
  readonly metadata: string;
  readonly disk?: string;
  readonly rootfs?: string;
  readonly arch?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly description?: string;
  readonly attach: readonly string[];
  readonly publish: boolean;
  readonly aliases: readonly string[];
  readonly upload: UploadOptions;
}

const MEDIA_TYPES: Record<string, string> = {
  '.xz': 'application/x-xz',
  '.gz': 'application/gzip',
  '.json': 'application/json',
  '.asc': 'application/pgp-signature',
  '.sig': 'application/pgp-signature',
  '.yaml': 'application/yaml',
  '.txt': 'text/plain',
};

export function parseAttach(spec: string): { name: string; file: string } {
  const i = spec.indexOf('=');
  if (i <= 0 || i === spec.length - 1) {
    throw new UsageError(`--attach takes NAME=FILE, not ${JSON.stringify(spec)}`);
  }
  return { name: spec.slice(0, i), file: spec.slice(i + 1) };
}

/**
 * push: upload the files, create the image and the draft version when missing, add the artifact
 * and its attachments (a re-run finds what it made before), then optionally publish, wait and
 * move aliases.
 */
export async function push(ctx: CliContext, input: PushInput): Promise<void> {
  if (Boolean(input.disk) === Boolean(input.rootfs)) {
    throw new UsageError('push needs exactly one of --disk FILE (VM) or --rootfs FILE (container)');
  }
  const attachments = input.attach.map(parseAttach);
  for (const file of [
    input.metadata,
    input.disk,
    input.rootfs,
    ...attachments.map((a) => a.file),
  ]) {
    if (file && !existsSync(file)) throw new UsageError(`no such file: ${file}`);
  }
  const meta = await readIncusMetadata(input.metadata);
  const architecture = input.arch ?? meta.properties.architecture ?? meta.architecture;
  const os = input.os ?? meta.properties.os;
  const variant = input.variant ?? meta.properties.variant ?? 'default';
  const description = input.description ?? meta.properties.description;
  if (!os) throw new UsageError(`${input.metadata} names no os: pass --os`);

  const vm = Boolean(input.disk);
  const root = (input.disk ?? input.rootfs) as string;
  const uploads: UploadResult[] = [];
  const upload = async (path: string, mediaType: string, label?: string) => {
    const result = await uploadFile(ctx, path, { ...input.upload, mediaType, label });
    if (result.outcome === 'trusted')
      note(ctx, `${label ?? basename(path)}: already on the server`);
    uploads.push(result);
    return result;
  };
  const rootBlob = await upload(root, vm ? 'application/x-qemu-disk' : 'application/vnd.squashfs');
  const metaBlob = await upload(input.metadata, 'application/x-xz', 'incus.tar.xz');
  const extra = [];
  for (const a of attachments) {
    extra.push({
      name: a.name,
      blob: await upload(a.file, MEDIA_TYPES[extname(a.file)] ?? 'application/octet-stream'),
    });
  }

  const image = { params: { path: { name: input.image } } };
  const existing = await call(
    `reading image ${input.image}`,
    ctx.client.GET('/v1/images/{name}', image),
    [404],
  );
  if (!existing) {
    await call(
      `creating image ${input.image}`,
      ctx.client.POST('/v1/images', {
        body: { name: input.image, ...(description ? { description } : {}) },
      }),
      [409],
    );
    note(ctx, `created image ${input.image}`);
  }
  const versionPath = { params: { path: { name: input.image, version: input.version } } };
  let manifest = await call<Manifest | undefined>(
    `reading ${input.image} ${input.version}`,
    ctx.client.GET('/v1/images/{name}/versions/{version}', versionPath),
    [404],
  );
  if (!manifest) {
    await call(
      `creating version ${input.version}`,
      ctx.client.POST('/v1/images/{name}/versions', {
        params: { path: { name: input.image } },
        body: { version: input.version },
      }),
    );
    note(ctx, `created draft ${input.image} ${input.version}`);
    manifest = { artifacts: [] } as unknown as Manifest;
  }
  const format = vm ? 'qcow2' : 'squashfs';
  const found = manifest.artifacts.find(
    (a) =>
      a.artifact.variant === variant &&
      a.artifact.operating_system === os &&
      a.artifact.architecture === normalizeArchitecture(architecture) &&
      a.artifact.format === format,
  );
  if (found && found.artifact.primary_blob_digest !== rootBlob.digest) {
    throw new CliError(
      `${input.image} ${input.version} already has a ${format} artifact for ${os} ${architecture} ${variant} with other bytes (${found.artifact.primary_blob_digest})`,
      EXIT.client,
    );
  }
  const state = manifest.version?.state;
  const wanted = [{ name: 'incus.tar.xz', blob: metaBlob }, ...extra];
  let artifactId = found?.artifact.id;
  if (!found) {
    if (state && state !== 'draft') {
      throw new CliError(
        `${input.image} ${input.version} is ${state}; push to a new version`,
        EXIT.client,
      );
    }
    const artifact = await call(
      'adding the artifact',
      ctx.client.POST('/v1/images/{name}/versions/{version}/artifacts', {
        ...versionPath,
        body: {
          variant,
          operating_system: os,
          architecture,
          format,
          primary_blob_digest: rootBlob.digest,
          primary_blob_size_bytes: rootBlob.size,
          primary_media_type: vm ? 'application/x-qemu-disk' : 'application/vnd.squashfs',
        },
      }),
    );
    artifactId = artifact.id;
  }
  for (const w of wanted) {
    const have = found?.attachments.find((a) => a.name === w.name);
    if (have) {
      if (have.blob_digest !== w.blob.digest) {
        throw new CliError(
          `attachment ${w.name} already cites other bytes (${have.blob_digest})`,
          EXIT.client,
        );
      }
      continue;
    }
    await call(
      `attaching ${w.name}`,
      ctx.client.POST('/v1/images/{name}/versions/{version}/artifacts/{artifact_id}/attachments', {
        params: {
          path: {
            name: input.image,
            version: input.version,
            artifact_id: artifactId as string,
          },
        },
        body: {
          name: w.name,
          media_type: w.name === 'incus.tar.xz' ? 'application/x-xz' : guess(w.blob.path),
          blob_digest: w.blob.digest,
          blob_size_bytes: w.blob.size,
        },
      }),
    );
  }

  let job: Job | undefined;
  if (input.publish) job = await publishAndWait(ctx, input.image, input.version);
  const aliases = [];
  for (const alias of input.aliases)
    aliases.push(await setAlias(ctx, input.image, alias, input.version));

  if (ctx.json) {
    emitJson(ctx, {
      image: input.image,
      version: input.version,
      artifact_id: artifactId,
      uploads,
      publish_job: job ?? null,
      aliases,
    });
  } else {
    say(
      ctx,
      `pushed ${input.image} ${input.version} (${format}, ${normalizeArchitecture(architecture)}, ${variant})${job ? ', published' : ''}${aliases.length ? `, aliases: ${input.aliases.join(', ')}` : ''}`,
    );
  }
}

function guess(path: string): string {
  return MEDIA_TYPES[extname(path)] ?? 'application/octet-stream';
}

/** Publishes (or finds the job of an earlier publish) and follows the job to its end. */
export async function publishAndWait(
  ctx: CliContext,
  image: string,
  version: string,
): Promise<Job> {
  const job = await call<Job>(
    `publishing ${image} ${version}`,
    ctx.client.POST('/v1/images/{name}/versions/{version}/publish', {
      params: { path: { name: image, version } },
    }),
  );
  const final = await watchJob(ctx, job.id);
  if (final.state !== 'succeeded') {
    throw new CliError(
      `publish job ${final.id} ${final.state}${final.failure_message ? `: ${final.failure_message}` : ''}`,
      EXIT.server,
    );
  }
  return final;
}

export async function setAlias(
  ctx: CliContext,
  image: string,
  alias: string,
  version: string,
): Promise<Schemas['AliasResponseDto']> {
  const result = await call(
    `pointing alias ${alias} at ${version}`,
    ctx.client.PUT('/v1/images/{name}/aliases/{alias}', {
      params: { path: { name: image, alias } },
      body: { version },
    }),
  );
  note(ctx, `alias ${image}/${alias} → ${version}`);
  return result;
}
