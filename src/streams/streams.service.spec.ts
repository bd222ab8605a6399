import type { DataSource, EntityManager } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { MetricsService } from '../common/metrics/metrics.service';
import { SiblingProcesses } from '../common/processes/sibling-processes';
import { StreamsMetrics } from './streams.metrics';
import type { StreamsRepository } from './streams.repository';
import { REVISION_RECHECK_MS, StreamsService } from './streams.service';

describe('StreamsService revision checks', () => {
  let now: number;
  let revision: number;
  let repository: {
    revision: jest.Mock;
    revisionIn: jest.Mock;
    projectionRows: jest.Mock;
    bumpRevision: jest.Mock;
  };
  let service: StreamsService;
  let siblings: SiblingProcesses;
  const manager = {} as EntityManager;

  beforeEach(async () => {
    now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    revision = 1;
    repository = {
      revision: jest.fn(async () => ({ revision, updatedAt: new Date(0) })),
      revisionIn: jest.fn(async () => revision),
      projectionRows: jest.fn(async () => []),
      bumpRevision: jest.fn(async () => ++revision),
    };
    const dataSource = {
      transaction: (_isolation: string, work: (m: EntityManager) => Promise<unknown>) =>
        work(manager),
    } as unknown as DataSource;
    siblings = new SiblingProcesses();
    service = new StreamsService(
      dataSource,
      repository as unknown as StreamsRepository,
      new StreamsMetrics(new MetricsService()),
      { auth: { publicRead: true } } as AppConfig,
      siblings,
    );
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
