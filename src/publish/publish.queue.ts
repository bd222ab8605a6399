import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { wake } from '../queue/wake';

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
  ) {
    // Connection trouble (Redis down or restarting): logged here instead of BullMQ printing each
    // error to the console; callers see their own failures, PostgreSQL keeps the work.
    queue.on('error', (error: Error) =>
      this.logger.warn({ err: { message: error?.message } }, 'publish queue connection error'),
    );
  }

  /** `key` deduplicates wake-ups for the same step attempt; `delayMs` schedules a retry. */
  async wake(jobId: string, key = 'now', delayMs = 0): Promise<void> {
    await wake(
      this.queue,
      { name: 'step', data: { jobId }, options: { jobId: `${jobId}_${key}`, delay: delayMs } },
      this.logger,
      'a publish wake-up',
      { jobId },
    );
  }
}
