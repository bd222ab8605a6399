import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { EventsQueue } from './events.queue';
import { WebhookDeliveryRepository } from './webhook-delivery.repository';

/**
 * Finds, in PostgreSQL, deliveries that may go now but may have no worker: due deliveries whose
 * wake-up was lost (Redis flushed or down, or a retry's delayed wake-up with it) and running ones
 * whose lease expired (a killed worker), and wakes a worker for each. It also cancels deliveries
 * left open for subscriptions that were disabled meanwhile.
 */
@Injectable()
export class EventsSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly queue: EventsQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.config.webhooks.sweepIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  async sweep(): Promise<number> {
    if (this.running || this.stopped) return 0;
    this.running = true;
    try {
      await this.deliveries.cancelOfDisabled(500);
      // A sweep under way when the process stops goes no further than the query it was in.
      if (this.stopped) return 0;
      const due = await this.deliveries.findRunnable(200, this.config.webhooks.sweepIntervalMs);
      for (const d of due)
        if (!this.stopped) await this.queue.wake([d.id], `${d.id}_sweep_${d.attempt}`);
      if (due.length > 0) this.logger.debug({ count: due.length }, 'swept webhook deliveries');
      return due.length;
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'webhook sweep failed');
      return 0;
    } finally {
      this.running = false;
    }
  }
}
