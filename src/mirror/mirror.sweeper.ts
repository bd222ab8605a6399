import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { RepeatingTask } from '../common/processes/repeating-task';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { MirrorQueue } from './mirror.queue';
import { MirrorRepository } from './mirror.repository';
import { nextRun } from './remote-fields';

/**
 * Starts scheduled syncs (a remote whose next run is due gets a queued sync, unless one is queued
 * or running, and its next run moves on), and wakes workers for syncs that should be running but
 * may have none: queued ones whose wake-up was lost, running ones whose lease ran out.
 */
@Injectable()
export class MirrorSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: RepeatingTask<void>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly repo: MirrorRepository,
    private readonly queue: MirrorQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.task = new RepeatingTask('mirror sweep', () => this.sweep(), undefined, logger);
  }

  onApplicationBootstrap(): void {
    this.task.start(this.config.mirror.sweepIntervalMs);
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  private async sweep(): Promise<void> {
    const started = await this.dataSource.transaction(async (manager) => {
      const ids: string[] = [];
      for (const remote of await this.repo.dueRemotes(manager, 50)) {
        const id = await this.repo.insertSync(manager, remote.id, 'schedule', null);
        if (id) ids.push(id);
        await this.repo.setNextSync(manager, remote.id, nextRun(remote.schedule, new Date()));
      }
      return ids;
    });
    for (const id of started) await this.queue.wake(id);
    await this.repo.cancelAbandoned();
    const due = await this.repo.runnable(this.config.mirror.sweepIntervalMs, 100);
    for (const sync of due) await this.queue.wake(sync.id, `sweep_${sync.attempt}`);
  }
}
