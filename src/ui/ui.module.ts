import { Module } from '@nestjs/common';
import { AliasesModule } from '../aliases/aliases.module';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { UiCatalogQueries } from './ui-catalog.queries';
import { UiController } from './ui.controller';
import { UiSessionService } from './ui-session.service';

/**
 * The web catalog (/ui): pages over the catalog, aliases, publish jobs and the audit log, signed
 * in with an API token. The application imports it when IMGSRV_UI is on (the default).
 */
@Module({
  imports: [AuthModule, AuditModule, AliasesModule],
  controllers: [UiController],
  providers: [UiSessionService, UiCatalogQueries],
})
export class UiModule {}
