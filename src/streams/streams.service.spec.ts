import type { DataSource, EntityManager } from 'typeorm';
import { Principal } from '../auth/principal';
import type { AppConfig } from '../config/app-config';
import { MetricsService } from '../common/metrics/metrics.service';
import { SiblingProcesses } from '../common/processes/sibling-processes';
import { StreamsMetrics } from './streams.metrics';
import type { ProjectionInput } from './streams.projector';
import type { StreamsRepository } from './streams.repository';
import {
  COLLECT_AFTER_RENDER_BYTES,
  REVISION_RECHECK_MS,
  SCOPED_RENDERS_AT_ONCE,
  StreamsService,
} from './streams.service';

const manager = {} as EntityManager;

/** A service over `repository`, whose transactions hand `manager` to their work. */
function serviceWith(repository: object, siblings = new SiblingProcesses(), publicRead = true) {
  const dataSource = {
    transaction: (_isolation: string, work: (m: EntityManager) => Promise<unknown>) =>
      work(manager),
  } as unknown as DataSource;
  const metrics = new StreamsMetrics(new MetricsService());
  const service = new StreamsService(
    dataSource,
    repository as StreamsRepository,
    metrics,
    { auth: { publicRead } } as AppConfig,
    siblings,
  );
  return { service, metrics };
}

describe('StreamsService revision checks', () => {
  let now: number;
  let revision: number;
  let repository: {
    revision: jest.Mock;
    revisionIn: jest.Mock;
    eachProjectionRow: jest.Mock;
    bumpRevision: jest.Mock;
  };
  let service: StreamsService;
  let siblings: SiblingProcesses;

  beforeEach(async () => {
    now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    revision = 1;
    repository = {
      revision: jest.fn(async () => ({ revision, updatedAt: new Date(0) })),
      revisionIn: jest.fn(async () => revision),
      eachProjectionRow: jest.fn(async () => true),
      bumpRevision: jest.fn(async () => ++revision),
    };
    siblings = new SiblingProcesses();
    service = serviceWith(repository, siblings).service;
    await service.current();
    repository.revision.mockClear();
  });
  afterEach(() => jest.restoreAllMocks());

  it('answers from memory while the revision is trusted', async () => {
    now += REVISION_RECHECK_MS - 1;
    expect(service.currentIfTrusted()?.revision).toBe(1);
    await Promise.all(Array.from({ length: 10 }, () => service.current()));
    expect(repository.revision).not.toHaveBeenCalled();
  });

  it('shares one revision read among the requests that arrive while it runs', async () => {
    now += REVISION_RECHECK_MS;
    expect(service.currentIfTrusted()).toBeUndefined();
    const answers = await Promise.all(Array.from({ length: 100 }, () => service.current()));
    expect(repository.revision).toHaveBeenCalledTimes(1);
    expect(answers.every((a) => a.revision === 1)).toBe(true);
  });

  it('reads the revision for each request just after this process changed it', async () => {
    await service.bumpRevision(manager);
    const answers = await Promise.all(Array.from({ length: 3 }, () => service.current()));
    expect(repository.revision).toHaveBeenCalledTimes(3);
    expect(answers.every((a) => a.revision === 2)).toBe(true);
  });

  it('tells its sibling processes when it bumps the revision', async () => {
    const sent = jest.fn();
    siblings.connect(sent);
    await service.bumpRevision(manager);
    expect(sent).toHaveBeenCalledTimes(1);
    expect(sent).toHaveBeenCalledWith('streams.revision-bumped');
  });

  it('reads the revision for each request just after another process said it changes it', async () => {
    revision = 2; // committed by the other process
    siblings.heard('streams.revision-bumped');
    expect(service.currentIfTrusted()).toBeUndefined();
    const answers = await Promise.all(Array.from({ length: 3 }, () => service.current()));
    expect(repository.revision).toHaveBeenCalledTimes(3);
    expect(answers.every((a) => a.revision === 2)).toBe(true);
  });
});

describe('StreamsService renders', () => {
  /** `n` rows of distinct versions (1, 2, …), in projection order. */
  const rowsOf = (n: number): ProjectionInput[] =>
    Array.from({ length: n }, (_, i) => String(i + 1)).map((version, i) => ({
      imageName: 'debian-12',
      version,
      publishedAt: new Date(Date.UTC(2026, 10, 23, 10, i)),
      productKey: `debian-12:${version}:amd64:default`,
      imageType: 'container',
      architecture: 'amd64',
      variant: 'default',
      operatingSystem: 'Debian',
      release: '12',
      releaseTitle: 'bookworm',
      serial: null,
      combinedSha256: String(i).repeat(64),
      metadataSha256: String(i + 3).repeat(64),
      metadataSizeBytes: 1000,
      rootFtype: 'squashfs',
      rootPath: `v1/images/debian-12/versions/${version}/artifacts/a/download/root.squashfs`,
      rootSha256: String(i + 6).repeat(64),
      rootSizeBytes: 5000,
      aliases: [],
    }));
  const rows = rowsOf(3);

  /** Renders from a cursor that hands over `streamed` (each row read at once: every row, reversed). */
  async function render(streamed: ProjectionInput[], all = streamed) {
    const repository = {
      revision: jest.fn(async () => ({ revision: 1, updatedAt: new Date(0) })),
      revisionIn: jest.fn(async () => 1),
      eachProjectionRow: jest.fn(async (_m, each: (row: ProjectionInput) => boolean) =>
        streamed.every(each),
      ),
      projectionRows: jest.fn(async () => [...all].reverse()),
    };
    const { service, metrics } = serviceWith(repository);
    const rendered = await service.current();
    const sorted = (await metrics.sortedRenders.get()).values[0]?.value ?? 0;
    await new Promise((resolve) => setImmediate(resolve));
    const collections = (await metrics.collections.get()).values[0]?.value ?? 0;
    return {
      body: rendered.images.body,
      sorted,
      readAll: repository.projectionRows.mock.calls.length,
      collections,
    };
  }

  it('projects the rows the cursor hands over in order, without reading them all', async () => {
    const { body, sorted, readAll } = await render(rows);
    expect(JSON.parse(body.toString()).products).toHaveProperty([
      'debian-12:3:amd64:default:container',
    ]);
    expect({ sorted, readAll }).toEqual({ sorted: 0, readAll: 0 });
  });

  it('reads every row and sorts them when the cursor hands them over out of order', async () => {
    const inOrder = await render(rows);
    const outOfOrder = await render([rows[1], rows[0], rows[2]], rows);
    expect({ sorted: outOfOrder.sorted, readAll: outOfOrder.readAll }).toEqual({
      sorted: 1,
      readAll: 1,
    });
    expect(outOfOrder.body.equals(inOrder.body)).toBe(true);
  });

  it('collects the heap once after rendering a large document, not after a small one', async () => {
    const small = await render(rows);
    const large = await render(rowsOf(8_000));
    expect(large.body.length).toBeGreaterThanOrEqual(COLLECT_AFTER_RENDER_BYTES);
    expect({ small: small.collections, large: large.collections }).toEqual({ small: 0, large: 1 });
  });

  it('runs at most SCOPED_RENDERS_AT_ONCE scoped renders at once, the others waiting', async () => {
    let calls = 0;
    let inFlight = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const repository = {
      revision: jest.fn(async () => ({ revision: 1, updatedAt: new Date(0) })),
      revisionIn: jest.fn(async () => 1),
      eachProjectionRow: jest.fn(async () => {
        if (calls++ === 0) return true; // the full render
        most = Math.max(most, ++inFlight);
        await new Promise<void>((resolve) => gates.push(resolve));
        inFlight--;
        return true;
      }),
      projectionRows: jest.fn(async () => []),
    };
    const { service } = serviceWith(repository, new SiblingProcesses(), false);
    const readers = ['a', 'b', 'c', 'd', 'e'].map(
      (image) =>
        new Principal(image, 'service', image, [{ roleId: 'reader', images: [image] }], {
          type: 'api_token',
          id: image,
        }),
    );
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let done = false;
    const renders = Promise.all(readers.map((reader) => service.currentFor(reader))).finally(
      () => (done = true),
    );
    for (let i = 0; i < 400 && inFlight < SCOPED_RENDERS_AT_ONCE; i++) await sleep(5);
    await sleep(50); // time for a third to start, were it allowed
    expect(inFlight).toBe(SCOPED_RENDERS_AT_ONCE);
    for (let i = 0; i < 2000 && !done; i++) {
      gates.shift()?.();
      await sleep(5);
    }
    await renders;
    expect(most).toBe(SCOPED_RENDERS_AT_ONCE);
    expect(repository.eachProjectionRow).toHaveBeenCalledTimes(1 + readers.length);
  });
});
