import { Global, Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditEventRepository } from './audit-event.repository';
import { AuditService } from './audit.service';

/** Global: every module records its mutations through AuditService. */
@Global()
@Module({
  controllers: [AuditController],
  providers: [AuditService, AuditEventRepository],
  exports: [AuditService],
})
export class AuditModule {}
