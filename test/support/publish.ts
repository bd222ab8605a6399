import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { api } from './catalog';
import { sql } from './sql';
import { makeIncusMetadata, makeSquashfs, type FixtureFile } from './fixtures';
import type { TestApp } from './test-app';
import { uploadBlob } from './uploads';
import { eventually } from './waiting';

/**
 * Builders for the publish pipeline tests: composing a draft from real fixture files, waiting for
 * a job (bounded polling, never timed assertions), and the rows a publish projects. PostgreSQL
 * helpers are in sql.ts, processes and metrics in processes.ts.
 */

export type Headers = Record<string, string>;

export interface ArtifactSpec {
  /** The primary blob (the root: qcow2 or squashfs). */
  readonly root: FixtureFile;
  /** The incus.tar.xz attachment, if any. */
  readonly metadata?: FixtureFile;
  readonly architecture?: string;
  readonly format?: 'qcow2' | 'squashfs';
  readonly variant?: string;
  /** Declared sizes that differ from the file (for refusal tests). */
  readonly declaredRootSize?: number;
  readonly declaredRootDigest?: string;
  /** Skip uploading the blobs (for refusal tests). */
  readonly upload?: boolean;
}

/** Uploads the fixture files through the real upload API and adds one artifact per spec. */
export async function addArtifact(
  app: TestApp,
  headers: Headers,
  image: string,
  version: string,
  spec: ArtifactSpec,
): Promise<{ artifactId: string; attachmentId: string | null }> {
  if (spec.upload !== false) {
    await uploadBlob(app, headers, spec.root.path);
    if (spec.metadata) await uploadBlob(app, headers, spec.metadata.path);
  }
  const format = spec.format ?? 'qcow2';
  const base = `/v1/images/${image}/versions/${version}/artifacts`;
  const created = await api(app, 'POST', base, headers, {
    operating_system: 'debian',
    architecture: spec.architecture ?? 'amd64',
    format,
    ...(spec.variant ? { variant: spec.variant } : {}),
    primary_blob_digest: spec.declaredRootDigest ?? spec.root.sha256,
    primary_blob_size_bytes: spec.declaredRootSize ?? spec.root.size,
    primary_media_type: format === 'qcow2' ? 'application/x-qemu-disk' : 'application/vnd.squashfs',
  });
  if (created.status !== 201)
    throw new Error(
      `adding an artifact answered ${created.status}: ${JSON.stringify(created.body)}`,
    );
  let attachmentId: string | null = null;
  if (spec.metadata) {
    const att = await api(app, 'POST', `${base}/${created.body.id}/attachments`, headers, {
      name: 'incus.tar.xz',
      media_type: 'application/x-xz',
      blob_digest: spec.metadata.sha256,
      blob_size_bytes: spec.metadata.size,
    });
    if (att.status !== 201)
      throw new Error(`adding an attachment answered ${att.status}: ${JSON.stringify(att.body)}`);
    attachmentId = att.body.id;
  }
  return { artifactId: created.body.id, attachmentId };
}

/** Creates the image (if needed) and a draft version with the given artifacts. */
export async function composeDraft(
  app: TestApp,
  headers: Headers,
  image: string,
  version: string,
  artifacts: ArtifactSpec[],
): Promise<{ artifactIds: string[] }> {
  const img = await api(app, 'POST', '/v1/images', headers, { name: image });
  if (img.status !== 201 && img.body?.code !== 'IMAGE_EXISTS')
    throw new Error(`creating ${image} answered ${img.status}: ${JSON.stringify(img.body)}`);
  const v = await api(app, 'POST', `/v1/images/${image}/versions`, headers, { version });
  if (v.status !== 201)
    throw new Error(`creating ${image} ${version} answered ${v.status}: ${JSON.stringify(v.body)}`);
  const artifactIds: string[] = [];
  for (const spec of artifacts)
    artifactIds.push((await addArtifact(app, headers, image, version, spec)).artifactId);
  return { artifactIds };
}

export const publishPath = (image: string, version: string) =>
  `/v1/images/${image}/versions/${version}/publish`;

/** A Debian 12 x86_64 container build: its incus.tar.xz (with `serial`) and a squashfs root. */
export async function debianContainerBuild(
  fixtures: string,
  serial: string,
  seed: number,
): Promise<{ meta: FixtureFile; root: FixtureFile }> {
  const meta = await makeIncusMetadata(fixtures, {
    architecture: 'x86_64',
    os: 'Debian',
    release: '12',
    variant: 'default',
    type: 'container',
    serial,
  });
  return { meta, root: await makeSquashfs(fixtures, { seed }) };
}

/**
 * Composes `version` of `image` from one container build and publishes it through the job
 * pipeline, waiting for the job to succeed; returns the publish request's status.
 */
export async function publishBuild(
  app: TestApp,
  headers: Headers,
  image: string,
  version: string,
  build: { meta: FixtureFile; root: FixtureFile },
): Promise<number> {
  await composeDraft(app, headers, image, version, [
    { format: 'squashfs', root: build.root, metadata: build.meta, architecture: 'x86_64' },
  ]);
  const job = await api(app, 'POST', publishPath(image, version), headers);
  await waitForJob(app, headers, job.body.id, 'succeeded');
  return job.status;
}

export interface JobBody {
  id: string;
  version_id: string;
  image_name: string;
  version: string;
  state: string;
  started_at: string | null;
  finished_at: string | null;
  failure_message: string | null;
  steps: {
    name: string;
    sequence: number;
    state: string;
    attempt_count: number;
    started_at: string | null;
    finished_at: string | null;
    failure_message: string | null;
    result: Record<string, any> | null;
  }[];
}

/** Polls GET /v1/publish-jobs/{id} until the job is in one of `states`. */
export async function waitForJob(
  app: TestApp,
  headers: Headers,
  jobId: string,
  states: string | string[],
  attempts = 600,
): Promise<JobBody> {
  const wanted = Array.isArray(states) ? states : [states];
  let last: JobBody | undefined;
  try {
    return await eventually(
      `job ${jobId} to be ${wanted.join(' or ')}`,
      async () => {
        const res = await api(app, 'GET', `/v1/publish-jobs/${jobId}`, headers);
        if (res.status !== 200) return undefined;
        last = res.body as JobBody;
        return wanted.includes(last.state) ? last : undefined;
      },
      { attempts },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(last)}`, {
      cause: error,
    });
  }
}

export const stepOf = (job: JobBody, name: string) => {
  const step = job.steps.find((s) => s.name === name);
  if (!step) throw new Error(`job ${job.id} has no step ${name}`);
  return step;
};

/** sha256(metadata bytes ‖ root bytes): the Incus fingerprint, computed from the files. */
export async function combinedFingerprint(metadata: string, root: string): Promise<string> {
  const hash = createHash('sha256');
  for (const path of [metadata, root])
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The streams_item rows of a version (the incus_index projection). */
export function streamsRowsOf(url: string, versionId: string) {
  return sql<{
    artifact_id: string;
    combined_sha256: string;
    product_key: string;
    serial: string | null;
  }>(
    url,
    `SELECT artifact_id, combined_sha256, product_key, serial FROM streams_item WHERE version_id = $1
      ORDER BY artifact_id`,
    [versionId],
  );
}
