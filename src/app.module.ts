import './app.errors';
import { Module, type DynamicModule } from '@nestjs/common';
import { AliasesModule } from './aliases/aliases.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { BlobStoreModule } from './cas/blob-store/blob-store.module';
import { CasModule } from './cas/cas.module';
import { CATALOG_BLOB_REFERENCES } from './catalog/catalog.service';
import { CatalogModule } from './catalog/catalog.module';
import { EventsModule } from './events/events.module';
import { PublishModule } from './publish/publish.module';
import { StreamsModule } from './streams/streams.module';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import type { Logger } from './common/logging/logger';
import { LoggingModule } from './common/logging/logging.module';
import { MetricsModule } from './common/metrics/metrics.module';
import { DownloadModule } from './common/http/download.module';
import { ENTITIES } from './app.entities';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { QueueModule } from './queue/queue.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(logger),
        MetricsModule,
        DownloadModule,
        DatabaseModule.forRoot(ENTITIES),
        QueueModule,
        BlobStoreModule,
        HealthModule,
        AuditModule,
        AuthModule,
        CasModule.register(config, { referenceSources: [CATALOG_BLOB_REFERENCES] }),
        CatalogModule.register(config),
        PublishModule.register(config),
        StreamsModule,
        AliasesModule,
        EventsModule.register(config),
      ],
    };
  }
}
