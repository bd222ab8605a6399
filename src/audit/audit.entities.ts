import { AuditEventEntity } from './audit-event.entity';

/** The audit module's TypeORM entities (listed in database/entities.ts). */
export const AUDIT_ENTITIES = [AuditEventEntity];
