import { Client } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import {
  sortForProjection,
  StreamsProjection,
  type ProjectionInput,
} from '../../src/streams/streams.projector';
import { StreamsRepository } from '../../src/streams/streams.repository';
import { StreamsService } from '../../src/streams/streams.service';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  removeFixtureDir,
} from '../support/fixtures';
import { metric } from '../support/processes';
import { composeDraft, publishPath, waitForJob } from '../support/publish';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * A render reads the projection's rows through a cursor, a batch at a time, in the projector's
 * order as the database sorts it. These check that order against the projector's own sort on a
 * real catalog, where publications share a millisecond but not a microsecond (the driver's dates
 * keep milliseconds only), and that the served document is the one the sorted rows give.
 */
describe('streams render through a cursor', () => {
  let dir: string;
  let app: TestApp;
  let repository: StreamsRepository;
  let dataSource: DataSource;

  /** Publication times: v1 and v2 share a millisecond in the order opposite to their keys. */
  const PUBLISHED: Record<string, string> = {
    '1': '2026-01-01 00:00:00.123900+00',
    '2': '2026-01-01 00:00:00.123100+00',
    '3': '2026-01-01 00:00:00.124000+00',
    '4': '2026-01-01 00:00:00.122999+00',
  };

  beforeAll(async () => {
    dir = await makeFixtureDir();
    app = await startTestApp();
    const w = (await issueIdentity(app, 'content-writer')).headers;
    const meta = await makeIncusMetadata(dir, {
      architecture: 'x86_64',
      os: 'Debian',
      release: 'bookworm',
      variant: 'default',
      type: 'virtual-machine',
    });
    for (const version of Object.keys(PUBLISHED)) {
      const disk = await makeQcow2(dir, { seed: `streams-render-${version}` });
      await composeDraft(app, w, 'render', version, [{ root: disk, metadata: meta }]);
      const accepted = await api(app, 'POST', publishPath('render', version), w);
      await waitForJob(app, w, accepted.body.id, 'succeeded');
    }
    const db = new Client({ connectionString: app.database.url });
    await db.connect();
    try {
      await db.query('BEGIN');
      // A published version is frozen by a trigger; two publishes landing in one millisecond is
      // a matter of timing, so the test sets the times with the triggers off (as a superuser).
      await db.query('SET LOCAL session_replication_role = replica');
      for (const [version, at] of Object.entries(PUBLISHED))
        await db.query(
          `UPDATE image_version SET published_at = $2
            WHERE version = $1 AND image_id = (SELECT id FROM image WHERE name = 'render')`,
          [version, at],
        );
      await db.query(`UPDATE streams_revision SET revision = revision + 1 WHERE id = 1`);
      await db.query('COMMIT');
    } finally {
      await db.end();
    }
    const nest = app.server.application.app;
    nest.get(StreamsService).changedElsewhere();
    repository = nest.get(StreamsRepository);
    dataSource = nest.get(DataSource);
  });
  afterAll(async () => {
    await app.close();
    await removeFixtureDir(dir);
  });

  const snapshot = <T>(work: (manager: EntityManager) => Promise<T>) =>
    dataSource.transaction('REPEATABLE READ', work);
  const names = (rows: readonly ProjectionInput[]) =>
    rows.map((r) => `${r.imageName}/${r.version}`);

  it('hands over the rows in the projector order, a batch at a time', async () => {
    const { streamed, complete, sorted } = await snapshot(async (manager) => {
      const streamed: ProjectionInput[] = [];
      const complete = await repository.eachProjectionRow(
        manager,
        (row) => streamed.push(row) > 0,
        3,
      );
      return {
        streamed,
        complete,
        sorted: sortForProjection(await repository.projectionRows(manager)),
      };
    });
    expect(complete).toBe(true);
    expect(streamed.length).toBeGreaterThan(3); // more than one batch
    expect(names(streamed)).toEqual(names(sorted));
    expect(names(streamed)).toEqual(['render/4', 'render/1', 'render/2', 'render/3']);
  });

  it('stops when asked and closes its cursor, so the next read in the transaction works', async () => {
    const { first, again } = await snapshot(async (manager) => {
      let seen = 0;
      const first = await repository.eachProjectionRow(manager, () => ++seen < 2, 3);
      const rows: ProjectionInput[] = [];
      const again = await repository.eachProjectionRow(manager, (row) => rows.push(row) > 0, 3);
      return { first: { complete: first, seen }, again: { complete: again, rows } };
    });
    expect(first).toEqual({ complete: false, seen: 2 });
    expect(again.complete).toBe(true);
    expect(names(again.rows)).toEqual(['render/4', 'render/1', 'render/2', 'render/3']);
  });

  it('serves the bytes that every row read at once and sorted gives, without sorting itself', async () => {
    const res = await app.fetch('/streams/v1/images.json');
    expect(res.status).toBe(200);
    const served = Buffer.from(await res.arrayBuffer());
    const rows = await repository.projectionRows(dataSource.manager);
    const projection = new StreamsProjection();
    for (const row of sortForProjection(rows)) projection.add(row);
    expect(served.equals(projection.render().images)).toBe(true);
    expect(await metric(app, 'imgsrv_streams_sorted_renders_total')).toBe(0);
    expect(await metric(app, 'imgsrv_streams_renders_total')).toBeGreaterThan(0);
  });
});
