import { Module, type DynamicModule } from '@nestjs/common';
import { AliasesModule } from '../aliases/aliases.module';
import type { AppConfig } from '../config/app-config';
import { StreamsModule } from '../streams/streams.module';
import { ImageDeletionService } from './image-deletion.service';
import { LifecycleController } from './lifecycle.controller';
import { PurgeScheduler } from './purge.scheduler';
import { RetentionController } from './retention.controller';
import { RetentionRepository } from './retention.repository';
import { RetentionScheduler } from './retention.scheduler';
import { RetentionService } from './retention.service';
import { WithdrawalRepository } from './withdrawal.repository';
import { WithdrawalService } from './withdrawal.service';

/** Withdrawal of published versions, their purge after the grace, and retention policies. */
@Module({})
export class LifecycleModule {
  /** The purge and retention runs happen only in processes with the worker role. */
  static register(config: AppConfig): DynamicModule {
    // Global and registered once per composition: the mirror sets mirrored images' retention.
    return {
      global: true,
      module: LifecycleModule,
      imports: [AliasesModule, StreamsModule],
      controllers: [LifecycleController, RetentionController],
      providers: [
        WithdrawalService,
        ImageDeletionService,
        WithdrawalRepository,
        RetentionService,
        RetentionRepository,
        ...(config.roles.worker ? [PurgeScheduler, RetentionScheduler] : []),
      ],
      exports: [WithdrawalService, RetentionService],
    };
  }
}
