import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';

export const MIRROR_QUEUE = 'mirror';

/** How long a wake-up may wait for Redis (as publish wake-ups do). */
const WAKE_TIMEOUT_MS = 2_000;

export interface SyncWakeup {
  readonly syncId: string;
}

/**
 * Wakes workers for a sync. Redis is transport only: the sync row in PostgreSQL is the work, and
 * the sweeper wakes a worker again for a queued sync whose wake-up was lost.
 */
@Injectable()
export class MirrorQueue {
  constructor(
    @InjectQueue(MIRROR_QUEUE) private readonly queue: Queue<SyncWakeup>,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    queue.on('error', (error: Error) =>
      this.logger.warn({ err: { message: error?.message } }, 'mirror queue connection error'),
    );
  }

  /** `key` deduplicates wake-ups of one sync attempt. */
  async wake(syncId: string, key = 'new'): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${WAKE_TIMEOUT_MS} ms`)),
        WAKE_TIMEOUT_MS,
      );
    });
    const added = this.queue.add(
      'sync',
      { syncId },
      { jobId: `${syncId}_${key}`, removeOnComplete: true, removeOnFail: true, attempts: 1 },
    );
    added.catch(() => undefined);
    try {
      await Promise.race([added, timeout]);
    } catch (error) {
      this.logger.warn(
        { syncId, err: { message: (error as Error).message } },
        'could not enqueue a sync wake-up',
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
