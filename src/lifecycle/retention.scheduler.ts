import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { RepeatingTask } from '../common/processes/repeating-task';
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
export class RetentionScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: RepeatingTask<number>;

  constructor(
    retention: RetentionService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.task = new RepeatingTask('retention run', () => retention.applyDue(), 0, logger);
  }

  onApplicationBootstrap(): void {
    this.task.start(this.config.lifecycle.retentionIntervalMs);
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  run(): Promise<number> {
    return this.task.run();
  }
}
