import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import {
  Inject,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import type { Job } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { PUBLISH_QUEUE, type PublishWakeup } from './publish.queue';
import { StepRunner } from './step-runner.service';

/**
 * BullMQ only wakes us: the job names a publish job, and the claims in PostgreSQL decide which
 * steps (if any) run; the worker runs them one after another while they succeed. Failures are
 * recorded in PostgreSQL, so the BullMQ job itself never fails.
 */
@Processor(PUBLISH_QUEUE)
export class PublishProcessor
  extends WorkerHost
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  /** Set when the application begins to stop: a job's next step is left to another worker. */
  private stopping = false;

  constructor(
    private readonly runner: StepRunner,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.publish.concurrency;
  }

  /** Before the queue's workers close (they wait for the steps under way). */
  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  /**
   * Connection trouble (Redis down or restarting). Without a listener BullMQ prints each error
   * to the console; nothing is lost meanwhile, the sweeper re-wakes from PostgreSQL.
   */
  @OnWorkerEvent('error')
  onWorkerError(error: Error): void {
    this.logger.warn({ err: { message: error?.message } }, 'publish queue worker error');
  }

  async process(job: Job<PublishWakeup>): Promise<void> {
    const jobId = job.data?.jobId;
    if (typeof jobId !== 'string' || !/^[0-9a-f-]{36}$/.test(jobId)) {
      this.logger.warn({ bullJobId: job.id }, 'ignoring a malformed publish wake-up');
      return;
    }
    try {
      await this.runner.runSteps(jobId, undefined, () => !this.stopping);
    } catch (error) {
      // Typically PostgreSQL being unavailable for the claim: the sweeper re-wakes the job.
      this.logger.warn(
        { jobId, err: { message: (error as Error).message } },
        'publish wake-up failed',
      );
    }
  }
}
