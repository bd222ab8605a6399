import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { wake } from '../queue/wake';

export const WEBHOOK_QUEUE = 'webhook';

export interface DeliveryWakeup {
  /** The deliveries to attempt: all of one event's, or a single one (retry, sweep, successor). */
  readonly deliveryIds: readonly string[];
}

/**
 * Wakes workers for webhook deliveries. Redis is transport only: a lost wake-up is found again by
 * the sweeper in PostgreSQL, so failing to enqueue is logged, never fatal to the change that
 * committed the event.
 */
@Injectable()
export class EventsQueue {
  constructor(
    @InjectQueue(WEBHOOK_QUEUE) private readonly queue: Queue<DeliveryWakeup>,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    queue.on('error', (error: Error) =>
      this.logger.warn({ err: { message: error?.message } }, 'webhook queue connection error'),
    );
  }

  /**
   * One wake-up for `deliveryIds` (a BullMQ job of id `jobId`, which deduplicates it: one per
   * event, or per delivery attempt); `delayMs` schedules a retry.
   */
  async wake(deliveryIds: readonly string[], jobId: string, delayMs = 0): Promise<void> {
    if (deliveryIds.length === 0) return;
    await wake(
      this.queue,
      { name: 'deliver', data: { deliveryIds }, options: { jobId, delay: delayMs } },
      this.logger,
      'a webhook wake-up',
      { jobId, deliveries: deliveryIds.length },
    );
  }
}
