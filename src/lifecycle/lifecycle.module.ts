import { Module, type DynamicModule } from '@nestjs/common';
import { AliasesModule } from '../aliases/aliases.module';
import type { AppConfig } from '../config/app-config';
import { StreamsModule } from '../streams/streams.module';
import { LifecycleController } from './lifecycle.controller';
import { PurgeScheduler } from './purge.scheduler';
import { WithdrawalRepository } from './withdrawal.repository';
import { WithdrawalService } from './withdrawal.service';

/** Withdrawal of published versions and their purge after the grace. */
@Module({})
export class LifecycleModule {
  /** The purge runs only in processes with the worker role. */
  static register(config: AppConfig): DynamicModule {
    return {
      module: LifecycleModule,
      imports: [AliasesModule, StreamsModule],
      controllers: [LifecycleController],
      providers: [
        WithdrawalService,
        WithdrawalRepository,
        ...(config.roles.worker ? [PurgeScheduler] : []),
      ],
      exports: [WithdrawalService],
    };
  }
}
