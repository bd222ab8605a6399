import { Client } from 'pg';
import { StreamsService } from '../../src/streams/streams.service';
import type { TestApp } from './test-app';

/** JSON request helper: returns status and parsed body. */
export async function api(
  app: TestApp,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await app.fetch(path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? JSON.parse(text) : undefined,
    headers: res.headers as unknown as Headers,
  };
}

/**
 * Moves a draft to published through the two state changes the database allows, without the
 * publish pipeline: for tests of what published content looks like to readers. Like a publish,
 * it bumps the streams revision in the same transaction, which tells every process that what
 * readers of published content see has changed. The app under test is then told, as a sibling
 * process's bump tells it (StreamsService.changedElsewhere), so its next request reads the new
 * revision and sees the version published; another app on the same database learns of it within
 * its revision check, as of another host's publish.
 */
export async function markPublished(app: TestApp, image: string, version: string): Promise<void> {
  const db = new Client({ connectionString: app.database.url });
  await db.connect();
  try {
    const where = `id = (SELECT v.id FROM image_version v JOIN image i ON i.id = v.image_id WHERE i.name = $1 AND v.version = $2)`;
    await db.query('BEGIN');
    await db.query(`UPDATE image_version SET state = 'publishing' WHERE ${where}`, [
      image,
      version,
    ]);
    await db.query(
      `UPDATE image_version SET state = 'published', published_at = now() WHERE ${where}`,
      [image, version],
    );
    await db.query(
      `UPDATE streams_revision SET revision = revision + 1, updated_at = now() WHERE id = 1`,
    );
    await db.query('COMMIT');
  } finally {
    await db.end();
  }
  app.server.application.app.get(StreamsService).changedElsewhere();
}

/**
 * A published version `1` of a new image `name` whose one qcow2 artifact has the blob `digest`
 * (already uploaded) as its primary file; returns the artifact's download path.
 */
export async function publishedDownload(
  app: TestApp,
  headers: Record<string, string>,
  name: string,
  digest: string,
  size: number,
): Promise<string> {
  await api(app, 'POST', '/v1/images', headers, { name });
  await api(app, 'POST', `/v1/images/${name}/versions`, headers, { version: '1' });
  const artifact = await api(app, 'POST', `/v1/images/${name}/versions/1/artifacts`, headers, {
    operating_system: 'debian',
    architecture: 'amd64',
    format: 'qcow2',
    primary_blob_digest: digest,
    primary_blob_size_bytes: size,
    primary_media_type: 'application/x-qemu-disk',
  });
  if (artifact.status !== 201)
    throw new Error(`artifact answered ${artifact.status}: ${JSON.stringify(artifact.body)}`);
  await markPublished(app, name, '1');
  return `/v1/images/${name}/versions/1/artifacts/${artifact.body.id}/download`;
}
