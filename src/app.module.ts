import { Module, type DynamicModule } from '@nestjs/common';
import { applicationModules } from './app.modules';
import type { Logger } from './common/logging/logger';
import type { AppConfig } from './config/app-config';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: applicationModules(config, logger),
    };
  }
}
