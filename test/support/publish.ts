import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { Client } from 'pg';
import { api } from './catalog';
import type { FixtureFile } from './fixtures';
import type { TestApp } from './test-app';
import { uploadBlob } from './uploads';
import { eventually } from './waiting';

/**
 * Helpers for the publish pipeline tests: composing a draft from real fixture files, waiting for
 * a job (bounded polling, never timed assertions), reading PostgreSQL directly, holding a table
 * lock to keep a step in the middle of its write, and a dedicated Redis server to flush.
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

/** Runs `work` with a client connected straight to `url` (not through any proxy). */
export async function withDb<T>(url: string, work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

export async function sql<T = Record<string, any>>(
  url: string,
  query: string,
  params: unknown[] = [],
): Promise<T[]> {
  return withDb(url, async (db) => (await db.query(query, params)).rows as T[]);
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

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Holds `LOCK TABLE <table> IN <mode> MODE` in an open transaction on a connection straight to
 * PostgreSQL until released. SHARE lets reads go on and holds writers back: it keeps a step in
 * the middle of its fenced write, so a test can act while the step is certainly running.
 */
export async function holdTableLock(
  url: string,
  table: string,
  mode: 'SHARE' | 'ACCESS EXCLUSIVE' = 'SHARE',
): Promise<HeldLock> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('BEGIN');
    await db.query(`LOCK TABLE ${table} IN ${mode} MODE`);
  } catch (error) {
    await db.end();
    throw error;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      try {
        await db.query('ROLLBACK');
      } finally {
        await db.end();
      }
    },
  };
}

/**
 * Waits until some session of `database` waits on a lock: on `table` itself when given (a writer
 * held back by a table lock), else on any lock (row locks are waited for on transaction ids).
 */
export function waitForLockWaiter(url: string, database: string, table?: string): Promise<true> {
  return eventually(`a session waiting on a lock${table ? ` of ${table}` : ''}`, async () => {
    const rows = table
      ? await sql(
          url,
          `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE NOT l.granted AND l.relation = $1::regclass AND a.datname = $2`,
          [table, database],
        )
      : await sql(
          url,
          `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
          [database],
        );
    return rows.length > 0 ? true : undefined;
  });
}

/**
 * The value of one sample on the app's metrics listener, e.g.
 * `metric(app, 'imgsrv_publish_jobs{state="succeeded"}')`; undefined when absent.
 */
export async function metric(app: TestApp, sample: string): Promise<number | undefined> {
  const url = app.server.urls.metrics;
  if (!url) throw new Error('the app has no metrics listener');
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface DedicatedRedis {
  readonly url: string;
  readonly port: number;
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A redis-server of this test's own on a free port, without persistence: safe to FLUSHALL, which
 * the machine's shared Redis never is.
 */
export async function startDedicatedRedis(): Promise<DedicatedRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const cli = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const c = spawn('redis-cli', ['-p', String(port), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('error', reject);
      c.on('close', (code) =>
        code === 0 ? resolve(out.trim()) : reject(new Error(`redis-cli exited ${code}`)),
      );
    });
  await eventually('the dedicated redis-server to answer', async () =>
    (await cli('PING')) === 'PONG' ? true : undefined,
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    cli,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
