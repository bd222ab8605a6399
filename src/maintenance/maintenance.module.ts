import { Module, type DynamicModule } from '@nestjs/common';
import { ENTITIES } from '../app.entities';
import { contentModules, infrastructureModules } from '../app.modules';
import { AuditModule } from '../audit/audit.module';
import { AuthMaintenanceModule } from '../auth/auth-maintenance.module';
import type { AppConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import type { Logger } from '../common/logging/logger';
import { LoggingModule } from '../common/logging/logging.module';
import { DatabaseModule } from '../database/database.module';

/**
 * The compositions the server's maintenance commands run in: Nest application contexts (no HTTP
 * listener), with only the modules each command needs and never a BullMQ worker.
 */
@Module({})
export class MaintenanceModule {
  /**
   * `gc`: the CAS sweepers, and the catalog, which tells the GC which blobs manifests cite (a GC
   * without it refuses to run: BlobReferenceRegistry fails closed). The queue is there because
   * the sweep wakes workers for stalled verifications; the catalog's controllers come along and
   * need the download responder, but nothing routes to them.
   */
  static forGc(config: AppConfig, logger: Logger): DynamicModule {
    const noWorkers: AppConfig = { ...config, roles: { api: false, worker: false } };
    return {
      module: MaintenanceModule,
      imports: [
        ...infrastructureModules(config, logger),
        AuditModule,
        ...contentModules(noWorkers),
      ],
    };
  }

  /** `token issue` / `token revoke`: principals, grants, tokens and the audit log. */
  static forAuth(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: MaintenanceModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(logger),
        DatabaseModule.forRoot(ENTITIES),
        AuditModule,
        AuthMaintenanceModule,
      ],
    };
  }
}
