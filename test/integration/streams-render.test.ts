import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { MetricsService } from '../../src/common/metrics/metrics.service';
import { SiblingProcesses } from '../../src/common/processes/sibling-processes';
import type { AppConfig } from '../../src/config/app-config';
import { buildDataSourceOptions } from '../../src/database/data-source';
import { StreamsMetrics } from '../../src/streams/streams.metrics';
import { projectStreamsBytes } from '../../src/streams/streams.projector';
import { StreamsRepository } from '../../src/streams/streams.repository';
import { StreamsService } from '../../src/streams/streams.service';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const sha = (seed: string) => createHash('sha256').update(seed).digest('hex');

/**
 * The streams render against PostgreSQL: rows read through a cursor in the database's order give
 * the same bytes as all rows sorted in memory; when the database's order disagrees with the
 * projection's, the render notices, reads the rows again and sorts them, and still gives the
 * same bytes.
 */
describe('streams render through a cursor', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let repository: StreamsRepository;
  let imageId: string;
  let versions = 0;

  /** A published version of one artifact per key, published at `publishedAt`. */
  async function publish(publishedAt: string, productKeys: string[], alias?: string) {
    const number = ++versions;
    const [{ id: versionId }] = await dataSource.query(
      `INSERT INTO image_version (image_id, version) VALUES ($1, $2) RETURNING id`,
      [imageId, String(number)],
    );
    for (const [i, productKey] of productKeys.entries()) {
      const root = sha(`root ${number} ${i}`);
      const meta = sha(`meta ${number} ${i}`);
      const [{ id: artifactId }] = await dataSource.query(
        `INSERT INTO artifact (version_id, operating_system, architecture, format, variant,
                               primary_blob_digest, primary_blob_size_bytes, primary_media_type)
         VALUES ($1, 'debian', 'amd64', 'squashfs', $2, $3, 10, 'application/vnd.squashfs')
         RETURNING id`,
        [versionId, `v${i}`, `sha256:${root}`],
      );
      await dataSource.query(
        `INSERT INTO attachment (artifact_id, name, media_type, blob_digest, blob_size_bytes)
         VALUES ($1, 'incus.tar.xz', 'application/x-xz', $2, 5)`,
        [artifactId, `sha256:${meta}`],
      );
      await dataSource.query(
        `INSERT INTO streams_item (version_id, artifact_id, product_key, image_type, architecture,
                                   variant, operating_system, release, release_title,
                                   combined_sha256, metadata_path, metadata_sha256,
                                   metadata_size_bytes, root_ftype, root_path, root_sha256,
                                   root_size_bytes, serial)
         VALUES ($1, $2, $3, 'container', 'amd64', $4, 'Debian', '12', 'bookworm', $5, 'm', $6, 5,
                 'squashfs', $7, $8, 10, '20261206_01:00')`,
        [
          versionId,
          artifactId,
          productKey,
          `v${i}`,
          sha(`combined ${number} ${i}`),
          meta,
          `/streams/v1/items/${root}/root.squashfs`,
          root,
        ],
      );
    }
    await dataSource.query(`UPDATE image_version SET state = 'publishing' WHERE id = $1`, [
      versionId,
    ]);
    await dataSource.query(
      `UPDATE image_version SET state = 'published', published_at = $2 WHERE id = $1`,
      [versionId, publishedAt],
    );
    if (alias)
      await dataSource.query(
        `INSERT INTO alias (image_id, alias, version_id) VALUES ($1, $2, $3)`,
        [imageId, alias, versionId],
      );
    await dataSource.query(`UPDATE streams_revision SET revision = revision + 1`);
  }

  /** What the service renders, how many renders re-sorted, and the bytes of all rows sorted here. */
  async function render(): Promise<{ served: string; expected: string; resorts: number }> {
    const metrics = new StreamsMetrics(new MetricsService());
    const service = new StreamsService(
      dataSource,
      repository,
      metrics,
      { auth: { publicRead: true } } as AppConfig,
      new SiblingProcesses(),
    );
    const served = (await service.current()).images.body.toString();
    const expected = projectStreamsBytes(
      await repository.projectionRows(dataSource.manager),
    ).images.toString();
    return { served, expected, resorts: (await metrics.renderResorts.get()).values[0].value };
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    dataSource = new DataSource(buildDataSourceOptions({ url: database.url, poolSize: 2 }));
    await dataSource.initialize();
    repository = new StreamsRepository(dataSource);
    [{ id: imageId }] = await dataSource.query(
      `INSERT INTO image (name) VALUES ('debian') RETURNING id`,
    );
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('reads more rows than a batch in the projection order, batch by batch', async () => {
    // 2,100 rows: three batches, the last one short; keys given out of their sorted order.
    for (let day = 1; day <= 3; day++)
      await publish(
        `2026-12-0${day}T01:00:00.000Z`,
        Array.from({ length: 700 }, (_, i) => `debian:12:${(i * 7919) % 700}:day${day}`),
        day === 2 ? 'stable' : undefined,
      );
    let batches = 0;
    let previous = '';
    const inOrder = await dataSource.transaction(async (manager) =>
      repository.projectionBatches(manager, 1000, (rows) => {
        batches++;
        for (const row of rows) {
          const key = `${row.publishedAt.toISOString()} ${row.productKey}`;
          if (key < previous) return false;
          previous = key;
        }
        return true;
      }),
    );
    expect([inOrder, batches]).toEqual([true, 3]);
    const { served, expected, resorts } = await render();
    expect(served).toBe(expected);
    expect(Object.keys(JSON.parse(served).products)).toHaveLength(2100);
    // Key i*7919 mod 700 = 30 for i = 470: the alias names version 2's artifact of variant v470.
    expect(JSON.parse(served).products['debian:12:30:day2:container'].aliases).toBe(
      'debian/2/v470,debian/stable/v470',
    );
    expect(resorts).toBe(0);
  }, 60_000);

  it('agrees with the database on versions published within one millisecond, and sorts in memory where the byte order disagrees', async () => {
    // JavaScript's dates see one millisecond here, so the projection orders these by key; the
    // cursor too, since it sorts by the millisecond, not by the microseconds it holds.
    await publish('2026-12-05T01:00:00.123900Z', ['debian:12:a-first-by-key']);
    await publish('2026-12-05T01:00:00.123100Z', ['debian:12:z-last-by-key']);
    const { served, expected, resorts } = await render();
    expect(served).toBe(expected);
    expect(Object.keys(JSON.parse(served).products)).toHaveLength(2102);
    expect(resorts).toBe(0);

    // Keys outside the Basic Multilingual Plane: UTF-16 and the byte order disagree.
    await publish('2026-12-06T01:00:00.000Z', ['debian:\u{10000}', 'debian:\uFFFD']);
    const again = await render();
    expect(again.served).toBe(again.expected);
    expect(Object.keys(JSON.parse(again.served).products)).toHaveLength(2104);
    expect(again.resorts).toBe(1);
  });
});
