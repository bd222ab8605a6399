import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { MIRROR_QUEUE, type SyncWakeup } from './mirror.queue';
import { SyncRunner } from './sync-runner.service';

/** Syncs one worker runs at a time (each copies with its remote's own concurrency). */
const SYNCS_PER_WORKER = 2;

/** BullMQ only wakes us: the claim in PostgreSQL decides whether this worker runs the sync. */
@Processor(MIRROR_QUEUE)
export class MirrorProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly runner: SyncRunner,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = SYNCS_PER_WORKER;
  }

  @OnWorkerEvent('error')
  onWorkerError(error: Error): void {
    this.logger.warn({ err: { message: error?.message } }, 'mirror queue worker error');
  }

  async process(job: Job<SyncWakeup>): Promise<void> {
    const syncId = job.data?.syncId;
    if (typeof syncId !== 'string' || !/^[0-9a-f-]{36}$/.test(syncId)) {
      this.logger.warn({ bullJobId: job.id }, 'ignoring a malformed sync wake-up');
      return;
    }
    try {
      await this.runner.run(syncId);
    } catch (error) {
      this.logger.warn(
        { syncId, err: { message: (error as Error).message } },
        'sync wake-up failed',
      );
    }
  }
}
