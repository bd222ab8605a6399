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
import { PublishJobRepository } from './publish-job.repository';
import { PublishQueue } from './publish.queue';

/**
 * Finds, in PostgreSQL, steps that should be running but may have no worker: queued steps whose
 * wake-up was lost (Redis flushed or down) and running steps whose lease expired (a killed worker),
 * and wakes a worker for each. Wake-ups are deduplicated per step attempt.
 */
@Injectable()
export class PublishSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly jobs: PublishJobRepository,
    private readonly queue: PublishQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.config.publish.sweepIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const due = await this.jobs.findRunnable(100, this.config.publish.sweepIntervalMs);
      for (const step of due)
        await this.queue.wake(step.jobId, `sweep_${step.step}_${step.attempt}`);
      if (due.length > 0) this.logger.debug({ count: due.length }, 'swept publish steps');
      return due.length;
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'publish sweep failed');
      return 0;
    } finally {
      this.running = false;
    }
  }
}
