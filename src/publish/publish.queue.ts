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
 * How long a wake-up may wait for Redis. BullMQ's connection retries commands until Redis is back
 * (maxRetriesPerRequest: null), so an unbounded wait would hold the publish request, retry and
 * the sweeper for as long as Redis is down; the command itself stays queued and is still sent
 * when Redis returns, and the sweeper covers it if it is not.
 */
export const WAKE_TIMEOUT_MS = 2_000;

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
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${WAKE_TIMEOUT_MS} ms`)),
        WAKE_TIMEOUT_MS,
      );
    });
    const added = this.queue.add(
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
    added.catch(() => undefined);
    try {
      await Promise.race([added, timeout]);
    } catch (error) {
      this.logger.warn(
        { jobId, err: { message: (error as Error).message } },
        'could not enqueue a publish wake-up',
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
