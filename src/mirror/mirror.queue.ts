import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { wake } from '../queue/wake';

export const MIRROR_QUEUE = 'mirror';

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
    await wake(
      this.queue,
      { name: 'sync', data: { syncId }, options: { jobId: `${syncId}_${key}` } },
      this.logger,
      'a sync wake-up',
      { syncId },
    );
  }
}
