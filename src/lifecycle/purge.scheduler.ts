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
import { WithdrawalRepository } from './withdrawal.repository';

const BATCH = 500;

/**
 * Purges withdrawn versions once their grace has passed (IMGSRV_WITHDRAW_GRACE): each batch is
 * one UPDATE that skips rows other workers hold, so any number of workers may run it and a crash
 * leaves every version purged or not. A purged version no longer cites its blobs; the garbage
 * collector frees the bytes nothing else cites.
 */
@Injectable()
export class PurgeScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly withdrawals: WithdrawalRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.lifecycle.purgeIntervalMs;
    if (every <= 0) return;
    this.timer = setInterval(() => void this.purge(), every);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Purges every version that is due; returns how many. */
  async purge(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let total = 0;
    try {
      for (;;) {
        const purged = await this.withdrawals.purgeDue(BATCH);
        for (const p of purged)
          this.logger.info({ image: p.imageName, version: p.version }, 'purged withdrawn version');
        total += purged.length;
        if (purged.length < BATCH) return total;
      }
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'purge failed');
      return total;
    } finally {
      this.running = false;
    }
  }
}
