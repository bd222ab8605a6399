import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';

/** Upload sessions, digest verification, blob reads and the blob-store drivers. */
@Module({})
export class CasModule {
  /** Processors (BullMQ workers) are registered only when this process has the worker role. */
  static register(config: AppConfig): DynamicModule {
    void config;
    return { module: CasModule };
  }
}
