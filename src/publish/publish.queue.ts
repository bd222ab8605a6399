import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';

export const PUBLISH_QUEUE = 'publish';

export interface PublishWakeup {
  readonly jobId: string;
}

/**
 * Wakes workers for a publish job. Redis is transport only: a lost wake-up is found again by the
 * sweeper, so failing to enqueue is logged, never fatal to the request that committed the work.
 */
@Injectable()
export class PublishQueue {
  constructor(
    @InjectQueue(PUBLISH_QUEUE) private readonly queue: Queue<PublishWakeup>,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** `key` deduplicates wake-ups for the same step attempt; `delayMs` schedules a retry. */
  async wake(jobId: string, key = 'now', delayMs = 0): Promise<void> {
    try {
      await this.queue.add(
        'step',
        { jobId },
        {
          jobId: `${jobId}_${key}`,
          delay: delayMs,
          removeOnComplete: true,
          removeOnFail: true,
          attempts: 1,
        },
      );
    } catch (error) {
      this.logger.warn(
        { jobId, err: { message: (error as Error).message } },
        'could not enqueue a publish wake-up',
      );
    }
  }
}
