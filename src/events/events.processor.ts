import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { DeliveryRunner } from './delivery-runner.service';
import { WEBHOOK_QUEUE, type DeliveryWakeup } from './events.queue';

/** More deliveries than one event could have (subscriptions are few) mark a forged wake-up. */
const MAX_PER_WAKEUP = 10_000;

/**
 * BullMQ only wakes us: the job names a delivery, and the claim in PostgreSQL decides whether it
 * goes now. Outcomes are recorded in PostgreSQL, so the BullMQ job itself never fails.
 */
@Processor(WEBHOOK_QUEUE)
export class EventsProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly runner: DeliveryRunner,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.webhooks.concurrency;
  }

  @OnWorkerEvent('error')
  onWorkerError(error: Error): void {
    this.logger.warn({ err: { message: error?.message } }, 'webhook queue worker error');
  }

  async process(job: Job<DeliveryWakeup>): Promise<void> {
    const ids = job.data?.deliveryIds;
    if (
      !Array.isArray(ids) ||
      ids.length > MAX_PER_WAKEUP ||
      !ids.every((id) => typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id))
    ) {
      this.logger.warn({ bullJobId: job.id }, 'ignoring a malformed webhook wake-up');
      return;
    }
    try {
      await this.runner.runMany(ids);
    } catch (error) {
      // Typically PostgreSQL being unavailable for the claim: the sweeper wakes them again.
      this.logger.warn(
        { deliveries: ids.length, err: { message: (error as Error).message } },
        'webhook wake-up failed',
      );
    }
  }
}
