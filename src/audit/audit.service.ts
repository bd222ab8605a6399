import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { pageOf, type Page } from '../common/pagination';
import type { AuditEventInput } from './audit-event.input';
import { AuditEventRepository, type AuditEventFilter } from './audit-event.repository';
import type { AuditEventEntity } from './audit-event.entity';

/** The append-only record of every mutation: who, what, when, and the request that did it. */
@Injectable()
export class AuditService {
  constructor(private readonly events: AuditEventRepository) {}

  /** Records an event inside the caller's transaction, so it commits or rolls back with it. */
  async record(manager: EntityManager, event: AuditEventInput): Promise<void> {
    await this.events.insert(manager, {
      principalId: event.actor.principal?.id ?? null,
      principalName: event.actor.principal?.displayName ?? event.actor.system ?? null,
      action: event.action,
      targetType: event.targetType,
      targetId: event.targetId,
      imageName: event.imageName ?? null,
      requestId: event.actor.requestId,
      detail: { ...(event.detail ?? {}) },
    });
  }

  async list(
    filter: AuditEventFilter,
    limit: number,
    cursor?: string,
  ): Promise<Page<AuditEventEntity>> {
    const rows = await this.events.list(filter, limit, cursor);
    return pageOf(rows, limit, (e) => [Number(e.id)]);
  }
}
