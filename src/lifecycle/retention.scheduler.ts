import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { RetentionService } from './retention.service';

/**
 * Applies retention policies every IMGSRV_RETENTION_INTERVAL to the images where one may let
 * something go (a publish since the last run, a changed policy, or time passing for keep_days).
 * Several workers may run it: each batch locks the image's policy row, and decides from
 * PostgreSQL what is still published.
 */
@Injectable()
export class RetentionScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly retention: RetentionService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.lifecycle.retentionIntervalMs;
    if (every <= 0) return;
    this.timer = setInterval(() => void this.run(), every);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async run(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      return await this.retention.applyDue();
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'retention run failed');
      return 0;
    } finally {
      this.running = false;
    }
  }
}
