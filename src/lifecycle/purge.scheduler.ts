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
import { WithdrawalRepository } from './withdrawal.repository';

const BATCH = 500;

/**
 * Purges withdrawn versions once their grace has passed (IMGSRV_WITHDRAW_GRACE): each batch is
 * one UPDATE that skips rows other workers hold, so any number of workers may run it and a crash
 * leaves every version purged or not. A purged version no longer cites its blobs; the garbage
 * collector frees the bytes nothing else cites.
 */
@Injectable()
export class PurgeScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: RepeatingTask<number>;

  constructor(
    private readonly withdrawals: WithdrawalRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.task = new RepeatingTask('purge', () => this.purgeAll(), 0, logger);
  }

  onApplicationBootstrap(): void {
    this.task.start(this.config.lifecycle.purgeIntervalMs);
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /** Purges every version that is due; returns how many. */
  purge(): Promise<number> {
    return this.task.run();
  }

  private async purgeAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const purged = await this.withdrawals.purgeDue(BATCH);
      for (const p of purged)
        this.logger.info({ image: p.imageName, version: p.version }, 'purged withdrawn version');
      total += purged.length;
      if (purged.length < BATCH) return total;
    }
  }
}
