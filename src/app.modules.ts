import './app.errors';
import type { DynamicModule, Type } from '@nestjs/common';
import { AliasesModule } from './aliases/aliases.module';
import { ENTITIES } from './app.entities';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { BlobStoreModule } from './cas/blob-store/blob-store.module';
import { CasModule } from './cas/cas.module';
import { CatalogModule } from './catalog/catalog.module';
import { CATALOG_BLOB_REFERENCES } from './catalog/catalog.service';
import { DownloadModule } from './common/http/download.module';
import type { Logger } from './common/logging/logger';
import { LoggingModule } from './common/logging/logging.module';
import { MetricsModule } from './common/metrics/metrics.module';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { EventsModule } from './events/events.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { MirrorModule } from './mirror/mirror.module';
import { HealthModule } from './health/health.module';
import { ProvenanceModule } from './provenance/provenance.module';
import { PublishModule } from './publish/publish.module';
import { QueueModule } from './queue/queue.module';
import { StreamsModule } from './streams/streams.module';
import { UiModule } from './ui/ui.module';

type ModuleImport = Type | DynamicModule;

/**
 * What every composition runs on: configuration, logging, metrics, PostgreSQL with every entity,
 * BullMQ on Redis and the blob store. Importing this file also registers every feature's error
 * codes (src/app.errors.ts). Each composition adds the audit log where its order needs it: the
 * order of modules with controllers is the order of the OpenAPI document's paths.
 */
export function infrastructureModules(config: AppConfig, logger: Logger): ModuleImport[] {
  return [
    ConfigModule.forRoot(config),
    LoggingModule.forRoot(logger),
    MetricsModule,
    DatabaseModule.forRoot(ENTITIES),
    QueueModule,
    BlobStoreModule,
  ];
}

/** The blob store's content and the catalog, which tells the blob GC what manifests cite. */
export function contentModules(config: AppConfig): ModuleImport[] {
  return [
    DownloadModule,
    CasModule.register(config, { referenceSources: [CATALOG_BLOB_REFERENCES] }),
    CatalogModule.register(config),
  ];
}

/** The whole application, as `serve` runs it (AppModule). */
export function applicationModules(config: AppConfig, logger: Logger): ModuleImport[] {
  return [
    ...infrastructureModules(config, logger),
    HealthModule,
    AuditModule,
    AuthModule,
    ...contentModules(config),
    PublishModule.register(config),
    StreamsModule,
    AliasesModule,
    EventsModule.register(config),
    LifecycleModule.register(config),
    ProvenanceModule,
    MirrorModule.register(config),
    ...(config.ui.enabled ? [UiModule] : []),
  ];
}
