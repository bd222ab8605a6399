import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';

export const WEBHOOK_QUEUE = 'webhook';

/**
 * How long a wake-up may wait for Redis (as publish wake-ups): BullMQ would wait for as long as
 * Redis is down, holding the request that committed the event.
 */
const WAKE_TIMEOUT_MS = 2_000;

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
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${WAKE_TIMEOUT_MS} ms`)),
        WAKE_TIMEOUT_MS,
      );
    });
    const added = this.queue.add(
      'deliver',
      { deliveryIds },
      { jobId, delay: delayMs, removeOnComplete: true, removeOnFail: true, attempts: 1 },
    );
    added.catch(() => undefined);
    try {
      await Promise.race([added, timeout]);
    } catch (error) {
      this.logger.warn(
        { jobId, deliveries: deliveryIds.length, err: { message: (error as Error).message } },
        'could not enqueue a webhook wake-up',
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
