import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import { AliasesModule } from '../aliases/aliases.module';
import type { AppConfig } from '../config/app-config';
import { CredentialsStore } from './credentials-store';
import { MirrorMetrics } from './mirror.metrics';
import { MirrorProcessor } from './mirror.processor';
import { MIRROR_QUEUE, MirrorQueue } from './mirror.queue';
import { MirrorRepository } from './mirror.repository';
import { MirrorSweeper } from './mirror.sweeper';
import { RemotesController } from './remotes.controller';
import { RemotesService } from './remotes.service';
import { SyncRunner } from './sync-runner.service';

/**
 * Mirroring upstream Simple Streams servers: remotes, sync jobs, and the workers that copy what a
 * remote selects into the store and the catalog (through upload sessions and the publish pipeline).
 */
@Module({})
export class MirrorModule {
  /** The processor and sweeper run only in processes with the worker role. */
  static register(config: AppConfig): DynamicModule {
    const workerProviders = config.roles.worker ? [MirrorProcessor, MirrorSweeper] : [];
    return {
      module: MirrorModule,
      imports: [BullModule.registerQueue({ name: MIRROR_QUEUE }), AliasesModule],
      controllers: [RemotesController],
      providers: [
        RemotesService,
        MirrorRepository,
        MirrorQueue,
        MirrorMetrics,
        CredentialsStore,
        SyncRunner,
        ...workerProviders,
      ],
    };
  }
}
